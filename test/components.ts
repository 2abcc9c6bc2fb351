/**
 * Paths of the real components the tests use (kube-apiserver, etcd, Gateway API CRDs), fetched
 * or built by hack/get-components.sh into the cache outside the repository.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const cache = new Map<string, string>();

/** Returns the cache directory of a component, getting it first if needed (may take minutes cold). */
export function componentDir(what: 'crds' | 'apiserver' | 'kubectl' | 'helm' | 'etcd' | 'traefik' | 'envoy-gateway' | 'envoy' | 'trino' | 'python-trino'): string {
  const hit = cache.get(what);
  if (hit) return hit;
  const out = execFileSync(join(REPO_ROOT, 'hack/get-components.sh'), [what], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = out.trim().split('\n').pop()!;
  cache.set(what, dir);
  return dir;
}

export function gatewayApiCrdsFile(): string {
  return join(componentDir('crds'), 'standard-install.yaml');
}
