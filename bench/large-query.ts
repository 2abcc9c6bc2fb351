/**
 * A large query as a newcomer runs it on the local stack: the Trino CLI reading every row of
 * `tpch.sf1.lineitem` (6,001,215 rows), through the Gateway (Traefik, the shared group's
 * hostname; the polls take the coordinator's prefix route) and straight to a coordinator's own
 * address, in one run, after a warm-up. Prints both times and the ratio.
 *
 *   npm run bench:large-query       (about eight minutes on 2 cores; needs real Trino: root, Java 25)
 *
 * The two shared-group coordinators are configured alike; the direct runs alternate between them
 * as the Gateway's runs do. Rows go to /dev/null in CSV, as `> file` would.
 */
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { startStack } from '../hack/stack.ts';
import { TRINO_JAVA_HOME } from '../hack/trino.ts';
import { REPO_ROOT } from '../test/components.ts';

const SQL = process.env.QUERY ?? 'SELECT * FROM tpch.sf1.lineitem';
const ROUNDS = Number(process.env.ROUNDS ?? 2);

function cli(stack: Awaited<ReturnType<typeof startStack>>, server: string, sql: string): Promise<number> {
  const java = join(TRINO_JAVA_HOME, 'bin/java');
  const args = ['--enable-native-access=ALL-UNNAMED', '-XX:-UsePerfData', `-Djdk.net.hosts.file=${stack.hostsFile}`, '-jar', stack.trinoCliJar, '--server', server, '--user', 'bench', '--output-format', 'CSV', '--execute', sql];
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(java, args, { stdio: ['ignore', 'ignore', 'pipe'] }); // rows go to /dev/null
    let stderr = '';
    p.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    p.on('exit', (code) => (code === 0 ? resolve((Date.now() - t0) / 1000) : reject(new Error(`${server}: exit ${code} ${stderr}`))));
  });
}

const stack = await startStack({ logsDir: join(REPO_ROOT, '.logs/bench-large-query') });
try {
  if (!stack.realTrino.ok) throw new Error(`real Trino is needed: ${stack.realTrino.reason}`);
  const trinos = [...stack.coordinators.values()].filter((c) => c.trino).map((c) => c.trino!);
  const gateway = `http://shared.trino.example.com:${stack.gatewayPort}`;
  process.stderr.write('warm-up: the query once each way\n');
  await cli(stack, gateway, SQL);
  await cli(stack, trinos[0]!.url, SQL);
  const direct: number[] = [];
  const via: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // ABBA: both paths see the same machine state on average.
    const order = i % 2 === 0 ? ['direct', 'gateway'] : ['gateway', 'direct'];
    for (const which of order) {
      const secs = which === 'direct' ? await cli(stack, trinos[i % trinos.length]!.url, SQL) : await cli(stack, gateway, SQL);
      (which === 'direct' ? direct : via).push(secs);
      process.stderr.write(`round ${i + 1}: ${which} ${secs.toFixed(1)} s\n`);
    }
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
  process.stdout.write(`\nlarge query on the local stack (${new Date().toISOString()})\nmachine: ${machine}\nquery: ${SQL} (Trino CLI, CSV to /dev/null), ${ROUNDS} rounds after a warm-up\n\n`);
  process.stdout.write(`straight to a coordinator: ${direct.map((x) => x.toFixed(1)).join(' / ')} s\n`);
  process.stdout.write(`through the Gateway:       ${via.map((x) => x.toFixed(1)).join(' / ')} s\n`);
  process.stdout.write(`ratio (Gateway / direct, total time): ${(sum(via) / sum(direct)).toFixed(2)}\n`);
} finally {
  await stack.stop();
}
