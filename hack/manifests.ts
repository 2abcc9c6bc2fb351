/**
 * What `manifests/` gives a Deployment's container, read from the YAML (never copied): its plain
 * environment values and its memory limit. The local stack and the benchmarks run the router
 * with these, so that what is measured and tested is what a cluster runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseBytes } from '../router/main.ts';
import { REPO_ROOT } from '../test/components.ts';

export interface ContainerSettings {
  /** Environment variables with a plain value (those from Secrets and fields are the caller's). */
  env: Record<string, string>;
  /** resources.limits.memory as written, and in bytes. */
  memoryLimit: string;
  memoryLimitBytes: number;
}

interface DeploymentDoc {
  kind: string;
  metadata: { name: string };
  spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }>; resources?: { limits?: { memory?: string } } }> } } };
}

/** The first container of Deployment `name` in `file` (relative to manifests/). */
export function deploymentSettings(file: string, name: string): ContainerSettings {
  const path = join(REPO_ROOT, 'manifests', file);
  const d = parseAllDocuments(readFileSync(path, 'utf8')).map((x) => x.toJS() as DeploymentDoc).find((x) => x?.kind === 'Deployment' && x.metadata.name === name);
  const c = d?.spec.template.spec.containers[0];
  if (!c) throw new Error(`${path}: no Deployment ${name} with a container`);
  const memoryLimit = c.resources?.limits?.memory;
  if (!memoryLimit) throw new Error(`${path}: Deployment ${name} sets no memory limit`);
  return { env: Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!])), memoryLimit, memoryLimitBytes: parseBytes('memory limit', memoryLimit) };
}

export const routerSettings = () => deploymentSettings('router/deployment.yaml', 'xtrinode-router');

interface Kustomization {
  resources: string[];
}

/**
 * The objects `kubectl apply -k manifests/` creates: every resource file that
 * manifests/kustomization.yaml lists, in its order; with every container's image set to `image`
 * when given (the local stack runs the image it just built).
 */
export function kustomizedObjects(image?: string): Array<Record<string, unknown>> {
  const dir = join(REPO_ROOT, 'manifests');
  const k = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as Kustomization;
  const objects: Array<Record<string, unknown>> = [];
  for (const file of k.resources) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const o = doc.toJS() as (Record<string, unknown> & { kind?: string; spec?: { template?: { spec?: { containers?: Array<{ image?: string }> } } } }) | null;
      if (!o?.kind) continue;
      if (image) for (const c of o.spec?.template?.spec?.containers ?? []) c.image = image;
      objects.push(o);
    }
  }
  return objects;
}

/**
 * What a platform team applies on a cluster without xtrinode-gateway, with `apply` (a server-side
 * apply): the router's Secret (README: created before `kubectl apply -k manifests/`), then the
 * kustomized objects with `image`. The local stack applies its own variant (nativelb on the router Service).
 */
export async function installManifests(apply: (o: Record<string, unknown>) => Promise<unknown>, image: string, routerSecret: string): Promise<void> {
  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'trino-gateway' } });
  await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'xtrinode-router', namespace: 'trino-gateway' }, stringData: { 'router-secret': routerSecret } });
  for (const obj of kustomizedObjects(image)) await apply(obj);
}
