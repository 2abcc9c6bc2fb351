/**
 * Load and measurement for the benchmarks: wrk runs (one thread, `seconds` long), the tools they
 * need (Debian packages), a process's RSS, medians.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** The path of a tool the benchmark needs, or an error saying which package to install. */
export function need(bin: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`]).toString().trim();
  } catch {
    throw new Error(`${bin} is not installed: apt-get install nginx-light haproxy wrk (Debian packages)`);
  }
}

export interface WrkResult {
  /** Requests completed in the run. */
  requests: number;
  reqPerSec: number;
  mbPerSec: number;
  /** The 99th percentile of latency, in ms. */
  p99ms: number;
}

/** One wrk run; fails when any answer was not 2xx. Synchronous: the event loop waits. */
export function wrk(url: string, host: string, connections: number, seconds: number): WrkResult {
  const out = execFileSync(need('wrk'), ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-H', `Host: ${host}`, url], { encoding: 'utf8' });
  const m = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(out);
  const unit = { B: 1e-6, KB: 1024 / 1e6, MB: 1.048576, GB: 1073.741824 }[m?.[2] ?? 'B'] ?? NaN;
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  if (non2xx) throw new Error(`wrk ${host} ${url}: ${non2xx[1]} answers were not 2xx`);
  return { requests: Number(/(\d+) requests in/.exec(out)?.[1]), reqPerSec: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), mbPerSec: Number(m?.[1]) * unit, p99ms: Number(p99?.[1]) * ({ us: 0.001, ms: 1, s: 1000 }[p99?.[2] ?? 'ms'] ?? NaN) };
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100/s)
}

/** A figure summed over a process and its descendants (a router primary and its workers). */
function overTree(pid: number, figure: (pid: number) => number): number {
  const children = readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  return figure(pid) + children.reduce((sum, c) => sum + overTree(c, figure), 0);
}

/** CPU seconds of a process and its children. */
export const cpuSecondsTree = (pid: number) => overTree(pid, cpuSeconds);

/** Write system calls (write, writev) of a process and its children so far; send() is not counted. */
export const writeCallsTree = (pid: number) => overTree(pid, (p) => Number(/syscw:\s+(\d+)/.exec(readFileSync(`/proc/${p}/io`, 'utf8'))?.[1]));

/** RSS of a process and its children, in MB. */
export const rssTreeMb = (pid: number) => overTree(pid, rssMb);

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
