/**
 * The project's test command (`npm test`): type check, get the real components (cached outside
 * the repository), then run every jest suite. Components that cannot be had fail the run loudly;
 * nothing is skipped silently.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/components.ts';

function run(what: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
  const t0 = Date.now();
  process.stderr.write(`\n== ${what}\n`);
  const r = spawnSync(cmd, args, { cwd: REPO_ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) {
    process.stderr.write(`\n== FAILED: ${what} (exit ${r.status ?? r.signal}, ${secs}s)\n`);
    process.exit(r.status ?? 1);
  }
  process.stderr.write(`== ok: ${what} (${secs}s)\n`);
}

run('type check (tsc --noEmit)', process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json']);
run(`real components: Gateway API CRDs, etcd, kube-apiserver, Traefik, Trino (cached in ${process.env.XTRINODE_CACHE ?? '~/.cache/xtrinode-gateway'})`, join(REPO_ROOT, 'hack/get-components.sh'), ['all']);
run('jest: unit, golden, router, controller and resume against a real kube-apiserver, conformance through Traefik with real Trino', process.execPath, [
  '--experimental-vm-modules', '--no-warnings=ExperimentalWarning', join(REPO_ROOT, 'node_modules/jest/bin/jest.js'), '--runInBand', ...process.argv.slice(2),
]);
