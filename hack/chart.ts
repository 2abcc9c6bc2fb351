/**
 * The Helm chart in charts/xtrinode-gateway, with Helm v4 from the component cache
 * (hack/get-components.sh helm).
 *
 * manifests/ is generated from the chart: `helm template` of charts/xtrinode-gateway with
 * charts/xtrinode-gateway/ci/kustomize-values.yaml, one file per chart template (templates/X ->
 * manifests/X, crds/X -> manifests/crd/X). kustomization.yaml and namespace.yaml are written by
 * hand. `npm run manifests` writes the files; `--check` only says which differ (exit 1).
 * hack/chart.test.ts runs the check, so a chart change that was not rendered fails the tests.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT, componentDir } from '../test/components.ts';

export const CHART_DIR = join(REPO_ROOT, 'charts/xtrinode-gateway');
export const KUSTOMIZE_VALUES = join(CHART_DIR, 'ci/kustomize-values.yaml');
const HEADER = '# Generated from charts/xtrinode-gateway by `npm run manifests` (helm template with\n# charts/xtrinode-gateway/ci/kustomize-values.yaml): edit the chart, not this file.\n';

export const helmBinary = (): string => join(componentDir('helm'), 'helm');

/** `helm template` of the chart: release xtrinode-gateway in `namespace`, CRDs included. */
export function helmTemplate(args: string[] = [], namespace = 'xtrinode-system'): string {
  return execFileSync(helmBinary(), ['template', 'xtrinode-gateway', CHART_DIR, '--namespace', namespace, '--include-crds', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * `helm install xtrinode-gateway` of the chart into namespace xtrinode-system (which must exist)
 * with `kubeconfig`; `args` add values. Resolves with Helm's output; rejects with its stderr.
 */
export function helmInstall(kubeconfig: string, args: string[] = [], command: 'install' | 'upgrade' = 'install'): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(helmBinary(), [command, 'xtrinode-gateway', CHART_DIR, '--kubeconfig', kubeconfig, '--namespace', 'xtrinode-system', '--timeout', '2m', ...args], { encoding: 'utf8', timeout: 180_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`helm ${command} of charts/xtrinode-gateway failed: ${err.message}\n${stderr.slice(0, 2000)}`)) : resolve(stdout));
  });
}

/** The manifests/ files (path relative to manifests/ -> content) the chart renders to. */
export function renderedManifests(): Map<string, string> {
  const out = helmTemplate(['-f', KUSTOMIZE_VALUES]);
  const files = new Map<string, string[]>();
  for (const part of out.split(/^---\n/m)) {
    const m = /^# Source: xtrinode-gateway\/(templates|crds)\/(\S+)\n/.exec(part);
    if (!m) {
      if (part.trim()) throw new Error(`helm template gave a document without a # Source line: ${part.slice(0, 200)}`);
      continue;
    }
    const file = m[1] === 'crds' ? `crd/${m[2]}` : m[2]!;
    const body = part.slice(m[0].length).replace(/\s+$/, '\n');
    files.set(file, [...(files.get(file) ?? []), body]);
  }
  return new Map([...files].map(([f, docs]) => [f, HEADER + docs.join('---\n')]));
}

/** Files of manifests/ that differ from what the chart renders (missing ones included). */
export function staleManifests(): string[] {
  const stale: string[] = [];
  for (const [file, content] of renderedManifests()) {
    const path = join(REPO_ROOT, 'manifests', file);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== content) stale.push(`manifests/${file}`);
  }
  return stale;
}

if (import.meta.main) {
  if (process.argv.includes('--check')) {
    const stale = staleManifests();
    if (stale.length) {
      console.error(`not rendered from the chart: ${stale.join(', ')}; run npm run manifests`);
      process.exit(1);
    }
  } else {
    for (const [file, content] of renderedManifests()) {
      const path = join(REPO_ROOT, 'manifests', file);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
      console.log(`wrote manifests/${file}`);
    }
  }
}
