/**
 * The project's test command (`npm test`): type check, get the real components (cached outside
 * the repository), then run every jest suite. Components that cannot be had fail the run loudly;
 * nothing is skipped silently. A run leaves nothing behind: every step runs with TMPDIR set to a
 * temp root of the run's own, and what is still in that root when the run ends fails it, by name.
 * Only that root is checked, never the whole system temp directory: other programs on the machine
 * (and Node itself, for its compile cache) write there, and that is not the tests' doing. Node's
 * compile cache goes to the component cache (NODE_COMPILE_CACHE), so it is not in the root either.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/components.ts';

const tmpRoot = mkdtempSync(join(tmpdir(), 'xtrinode-test-'));
const cache = process.env.XTRINODE_CACHE ?? join(homedir(), '.cache/xtrinode-gateway');
process.env.TMPDIR = tmpRoot;
process.env.NODE_COMPILE_CACHE ??= join(cache, 'node-compile-cache');

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
run(`real components: Gateway API CRDs, etcd, kube-apiserver, kubectl, Helm, Traefik, Envoy Gateway + Envoy, Trino (cached in ${process.env.XTRINODE_CACHE ?? '~/.cache/xtrinode-gateway'})`, join(REPO_ROOT, 'hack/get-components.sh'), ['all']);
run('the image the local stack runs the controller and the router from (npm run image: buildah, FROM scratch)', process.execPath, [join(REPO_ROOT, 'hack/image.ts'), '--if-stale']);
await runJest('jest: unit, golden, router, controller and resume against a real kube-apiserver, conformance through Traefik and through Envoy Gateway with real Trino', [
  '--experimental-vm-modules', '--no-warnings=ExperimentalWarning', join(REPO_ROOT, 'node_modules/jest/bin/jest.js'), '--runInBand', ...process.argv.slice(2),
]);

/**
 * Jest, with a watchdog: a test that leaves a server or a timer behind keeps jest alive after its
 * summary, and a CI job would then wait for its own time limit saying nothing. Once jest has
 * printed its summary it gets 60 s to exit; after that the run fails and names the cause.
 */
async function runJest(what: string, args: string[]): Promise<void> {
  const t0 = Date.now();
  process.stderr.write(`\n== ${what}\n`);
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['inherit', 'inherit', 'pipe'] });
  let hung: NodeJS.Timeout | undefined;
  let tail = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-4096);
    if (!hung && tail.includes('Ran all test suites')) {
      hung = setTimeout(() => {
        process.stderr.write('\n== FAILED: jest printed its summary but did not exit within 60 s: a test left a server, socket, timer or child process running. Find it with: npm run test:unit -- --detectOpenHandles <suite>\n');
        child.kill('SIGKILL');
      }, 60_000);
    }
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (c, s) => r([c, s])));
  if (hung) clearTimeout(hung);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (code !== 0) {
    process.stderr.write(`\n== FAILED: ${what} (exit ${code ?? signal}, ${secs}s)\n`);
    leftInTmp();
    process.exit(code ?? 1);
  }
  process.stderr.write(`== ok: ${what} (${secs}s)\n`);
}

/** Entries the run left in its own temp root (then removed); false when there are none. */
function leftInTmp(): boolean {
  const left = readdirSync(tmpRoot);
  rmSync(tmpRoot, { recursive: true, force: true });
  if (left.length === 0) return false;
  process.stderr.write(`\n== the run left ${left.length} entries in its temp root (TMPDIR=${tmpRoot}, now removed): ${left.slice(0, 20).join(' ')}${left.length > 20 ? ' ...' : ''}\n`);
  return true;
}

if (leftInTmp()) {
  process.stderr.write('== FAILED: every test removes what it creates in the temp directory (see the entries above)\n');
  process.exit(1);
}
process.stderr.write('== ok: the tests left nothing in their temp root\n');
