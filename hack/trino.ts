/**
 * Real Trino coordinators for the local stack and end-to-end tests: Trino from Maven Central
 * (hack/get-components.sh trino), each in a network namespace of its own with a veth pair to the
 * host, so it can listen on its usual port without exposing anything beyond this machine.
 *
 * @example
 * const t = await startTrino({ name: 'shared-1', index: 1 });   // http://10.213.1.2:8080
 * await t.ready();
 * await t.stop();
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, rmdirSync, readdirSync, existsSync } from 'node:fs';
import { appendOutput } from './process-log.ts';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import { componentDir } from '../test/components.ts';

export const TRINO_JAVA_HOME = process.env.TRINO_JAVA_HOME ?? '/usr/lib/jvm/temurin-25-jdk-amd64';

export interface TrinoCoordinator {
  name: string;
  /** Address inside its namespace, reachable from the host: 10.213.<index>.2 */
  address: string;
  port: number;
  url: string;
  log: string;
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Whether this machine can run real Trino here: Java 24+, network namespaces, the Trino download. */
export function trinoAvailable(): { ok: true } | { ok: false; reason: string } {
  if (!existsSync(join(TRINO_JAVA_HOME, 'bin/java'))) return { ok: false, reason: `no Java 24+ at ${TRINO_JAVA_HOME} (set TRINO_JAVA_HOME)` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces for Trino need root' };
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return { ok: false, reason: 'cannot create network namespaces (iproute2 missing)' };
  }
  return { ok: true };
}

/**
 * Starts a coordinator in network namespace `xtn-trino-<index>`. Its configuration and the JVM's
 * temporary files live in a folder of its own, removed by `stop()`; its logs go to `logsDir`
 * (`trino-<name>.log`), or into that folder when none is given. `stop()` sends SIGTERM and gives
 * the JVM time to exit cleanly (a killed JVM leaves native-library copies and attach sockets in
 * the system temp directory).
 */
/**
 * What a JVM puts in /tmp whatever java.io.tmpdir says: its attach socket `.java_pid<pid>`
 * (removed on a clean exit, left by a killed one) and `hsperfdata_<user>/` (Trino's self-attach
 * creates it, even with -XX:-UsePerfData). Both are removed once the JVM is gone, the folder only
 * if it did not exist before the first Trino of this process started and is empty.
 */
const HSPERFDATA = join('/tmp', `hsperfdata_${userInfo().username}`);
let hsperfdataExisted: boolean | undefined;
function leaveNoJvmFiles(pid: number | undefined): void {
  if (pid !== undefined) rmSync(join('/tmp', `.java_pid${pid}`), { force: true });
  if (hsperfdataExisted === false) {
    try {
      if (readdirSync(HSPERFDATA).length === 0) rmdirSync(HSPERFDATA);
    } catch {
      /* gone, or in use */
    }
  }
}

export async function startTrino(o: { name: string; index: number; heap?: string; port?: number; logsDir?: string }): Promise<TrinoCoordinator> {
  const server = join(componentDir('trino'), 'server');
  const port = o.port ?? 8080;
  const ns = `xtn-trino-${o.index}`;
  const hostIf = `xtnt${o.index}h`;
  const nsIf = `xtnt${o.index}n`;
  const hostAddr = `10.213.${o.index}.1`;
  const address = `10.213.${o.index}.2`;
  // A leftover from a killed run would make `ip` fail: clean first.
  try { ip(['link', 'del', hostIf]); } catch { /* none */ }
  try { ip(['netns', 'del', ns]); } catch { /* none */ }
  ip(['netns', 'add', ns]);
  ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
  ip(['link', 'set', nsIf, 'netns', ns]);
  ip(['addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
  ip(['link', 'set', hostIf, 'up']);
  ip(['-n', ns, 'addr', 'add', `${address}/30`, 'dev', nsIf]);
  ip(['-n', ns, 'link', 'set', nsIf, 'up']);

  // Its folder lives in the component cache: a killed run leaves nothing in the system temp directory.
  hsperfdataExisted ??= existsSync(HSPERFDATA);
  const runs = join(dirname(componentDir('trino')), 'run');
  mkdirSync(runs, { recursive: true });
  const dir = mkdtempSync(join(runs, `trino-${o.name}-`));
  const etc = join(dir, 'etc');
  mkdirSync(join(etc, 'catalog'), { recursive: true });
  mkdirSync(join(dir, 'tmp'));
  const logsDir = o.logsDir ?? dir;
  mkdirSync(logsDir, { recursive: true });
  writeFileSync(join(etc, 'config.properties'), [
    'coordinator=true',
    'node-scheduler.include-coordinator=true',
    `http-server.http.port=${port}`,
    `discovery.uri=http://127.0.0.1:${port}`,
    'http-server.process-forwarded=true',
    'node.environment=xtrinode',
    `node.id=${o.name}`,
    `plugin.dir=${join(server, 'plugin')}`,
    `catalog.config-dir=${join(etc, 'catalog')}`,
    'query.max-memory=512MB',
    'query.max-memory-per-node=512MB',
    'http-server.log.enabled=false',
    // SIGTERM starts Trino's graceful shutdown, which waits this long twice (default 2m): the
    // local stack's suspend stops a coordinator in seconds, as a pod with a short grace period.
    'shutdown.grace-period=1s',
    '',
  ].join('\n'));
  writeFileSync(join(etc, 'catalog/tpch.properties'), 'connector.name=tpch\n');
  writeFileSync(join(etc, 'log.properties'), 'io.trino=WARN\nio.airlift=WARN\n');
  // Trino's own log (it rotates the file on start) and the JVM's stdout/stderr, side by side.
  const log = join(logsDir, `trino-${o.name}.log`);
  const java = join(TRINO_JAVA_HOME, 'bin/java');
  const child: ChildProcess = spawn('ip', [
    'netns', 'exec', ns, java,
    '-server', `-Xmx${o.heap ?? '1G'}`, '-XX:+UseG1GC', '-XX:+ExitOnOutOfMemoryError', '-XX:TieredStopAtLevel=1',
    '-Djdk.attach.allowAttachSelf=true', '-Dfile.encoding=UTF-8',
    `-Dconfig=${join(etc, 'config.properties')}`, `-Dlog.levels-file=${join(etc, 'log.properties')}`, `-Dlog.output-file=${log}`,
    // Native libraries (lz4, snappy, zstd) are unpacked into java.io.tmpdir: this folder's tmp/.
    `-Djava.io.tmpdir=${join(dir, 'tmp')}`, '-XX:-UsePerfData',
    '--enable-native-access=ALL-UNNAMED', '-XX:+EnableDynamicAgentLoading',
    '-cp', `${join(server, 'lib')}/*`, 'io.trino.server.TrinoServer',
  ], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  appendOutput(child, join(logsDir, `trino-${o.name}.out`));
  const url = `http://${address}:${port}`;
  const stopped = new Promise<void>((r) => child.once('exit', () => r()));

  return {
    name: o.name,
    address,
    port,
    url,
    log,
    async ready(timeoutMs = 240_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`Trino ${o.name} exited (${child.exitCode}); see ${log}`);
        try {
          const r = await request(`${url}/v1/info`, { headersTimeout: 2000, bodyTimeout: 2000 });
          const info = (await r.body.json()) as { starting?: boolean };
          if (r.statusCode === 200 && info.starting === false) return;
        } catch {
          /* starting */
        }
        if (Date.now() > deadline) throw new Error(`Trino ${o.name} not ready after ${timeoutMs / 1000}s; see ${log}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // `ip netns exec` execs java: the child is the JVM. SIGTERM runs Trino's shutdown hooks.
        child.kill('SIGTERM');
        const exited = await Promise.race([stopped.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000).unref())]);
        if (!exited) {
          try { execFileSync('ip', ['netns', 'pids', ns]).toString().split(/\s+/).filter(Boolean).forEach((p) => { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }); } catch { /* none */ }
          await Promise.race([stopped, new Promise((r) => setTimeout(r, 5_000).unref())]);
        }
      }
      leaveNoJvmFiles(child.pid);
      try { ip(['link', 'del', hostIf]); } catch { /* gone */ }
      try { ip(['netns', 'del', ns]); } catch { /* gone */ }
      if (!process.env.XTRINODE_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
    },
  };
}
