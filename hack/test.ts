/**
 * The project's test command (`npm test`): type check, get the real components (cached outside
 * the repository), then run every jest suite. Components that cannot be had fail the run loudly;
 * nothing is skipped silently. A run leaves nothing in the system temp directory: what it finds
 * there afterwards that was not there before fails it, by name.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/components.ts';

const tmpBefore = new Set(readdirSync(tmpdir()));

function run(what: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
  const t0 = Date.now();
  process.stderr.write(`\n== ${what}\n`);
  const r = spawnSync(cmd, args, { cwd: REPO_ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) {
    process.stderr.write(`\n== FAILED: ${what} (exit ${r.status ?? r.signal}, ${secs}s)\n`);
    leftInTmp();
    process.exit(r.status ?? 1);
  }
  process.stderr.write(`== ok: ${what} (${secs}s)\n`);
}

run('type check (tsc --noEmit)', process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json']);
run(`real components: Gateway API CRDs, etcd, kube-apiserver, Traefik, Trino (cached in ${process.env.XTRINODE_CACHE ?? '~/.cache/xtrinode-gateway'})`, join(REPO_ROOT, 'hack/get-components.sh'), ['all']);
run('jest: unit, golden, router, controller and resume against a real kube-apiserver, conformance through Traefik with real Trino', process.execPath, [
  '--experimental-vm-modules', '--no-warnings=ExperimentalWarning', join(REPO_ROOT, 'node_modules/jest/bin/jest.js'), '--runInBand', ...process.argv.slice(2),
]);

/** Entries the run added to the temp directory (and left there); false when there are none. */
function leftInTmp(): boolean {
  const left = readdirSync(tmpdir()).filter((e) => !tmpBefore.has(e));
  if (left.length === 0) return false;
  process.stderr.write(`\n== the run left ${left.length} entries in ${tmpdir()}: ${left.slice(0, 20).join(' ')}${left.length > 20 ? ' ...' : ''}\n`);
  return true;
}

if (leftInTmp()) {
  process.stderr.write('== FAILED: every test removes what it creates in the temp directory (see the entries above)\n');
  process.exit(1);
}
process.stderr.write(`== ok: nothing left in ${tmpdir()}\n`);
