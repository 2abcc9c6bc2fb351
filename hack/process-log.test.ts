import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendOutput } from './process-log.ts';

test('stdout closed long before stderr: both reach the log and nothing writes after the end', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xtn-log-'));
  try {
    const log = join(dir, 'p.log');
    // Closes stdout at once, then writes to stderr: with `end: true` pipes this threw "write after end".
    const child = spawn(process.execPath, ['-e', 'process.stdout.write("out\\n"); require("fs").closeSync(1); setTimeout(() => process.stderr.write("err\\n"), 200)'], { stdio: ['ignore', 'pipe', 'pipe'] });
    appendOutput(child, log);
    await new Promise((r) => child.once('close', r));
    await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(log, 'utf8').split('\n').sort()).toEqual(['', 'err', 'out']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
