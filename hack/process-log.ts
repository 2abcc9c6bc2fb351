/**
 * A child process's stdout and stderr, appended to one log file. Both streams write to the one
 * file stream, which is ended once the process has closed both: piping each with the default
 * `end: true` ends the file at the first stream's end and the other's next write throws
 * "write after end" (an unhandled error that fails the whole test file, seen in CI).
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

export function appendOutput(child: ChildProcess, logFile: string): void {
  const out = createWriteStream(logFile, { flags: 'a' });
  // A log that cannot be written (disk full, folder removed) is reported, never fatal to the test.
  out.on('error', (err) => process.stderr.write(`log ${logFile}: ${err.message}\n`));
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  child.once('close', () => out.end());
}
