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
