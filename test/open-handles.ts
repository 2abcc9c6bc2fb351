/**
 * Jest's global teardown (the suites run in band, in this process): if something a test started
 * still holds the process 20 s after the last suite, name it on stderr (sockets with their
 * addresses, servers, child processes with their command lines, and the count of timers), so a
 * run that hangs says what hangs. The timer is unref'd: a clean run exits without waiting.
 */
import type { ChildProcess } from 'node:child_process';
import { Server, Socket } from 'node:net';

export default function reportOpenHandlesLater(): void {
  setTimeout(() => {
    const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
    const lines = handles.map(describe).filter((l): l is string => l !== undefined);
    const resources = process.getActiveResourcesInfo().reduce<Record<string, number>>((n, r) => ({ ...n, [r]: (n[r] ?? 0) + 1 }), {});
    process.stderr.write(`\n[open handles] jest has not exited 20 s after its last suite; still open:\n  ${lines.join('\n  ') || '(no handles)'}\n  resources: ${JSON.stringify(resources)}\n`);
  }, 20_000).unref();
}

function describe(h: unknown): string | undefined {
  if (h instanceof Socket) {
    if (h === process.stdout || h === process.stderr || h === process.stdin) return undefined;
    return `socket ${h.localAddress ?? '?'}:${h.localPort ?? '?'} -> ${h.remoteAddress ?? '?'}:${h.remotePort ?? '?'}${h.destroyed ? ' (destroyed)' : ''}`;
  }
  if (h instanceof Server) return `server listening on ${JSON.stringify(h.address())}`;
  const child = h as Partial<ChildProcess>;
  if (typeof child.pid === 'number' && Array.isArray(child.spawnargs)) return `child process ${child.pid}: ${child.spawnargs.join(' ').slice(0, 300)}`;
  return (h as object | null)?.constructor?.name ?? String(h);
}
