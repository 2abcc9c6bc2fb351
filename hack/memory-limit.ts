/**
 * A memory limit for a process and its children, as a container runtime sets it for a Pod's
 * `resources.limits.memory`: a memory cgroup under this process's own (cgroup v2, or the v1
 * memory hierarchy), so that going over the limit is an OOM kill here, in a test, and not first
 * in a cluster. Needs root (the local stack runs as root for its network namespaces).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryLimit {
  readonly dir: string;
  readonly limitBytes: number;
  /** Puts a process in the cgroup; processes it starts later are in it too. */
  add(pid: number): void;
  /** OOM kills inside the cgroup so far. */
  oomKills(): number;
  /** Highest memory use seen (v1), or the current one (v2), in bytes. */
  peakBytes(): number;
  /** Removes the cgroup (its processes must have exited). */
  remove(): void;
}

/** Where this process's memory cgroup is, and which version. */
function ownCgroup(): { dir: string; v2: boolean } {
  const lines = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n').map((l) => l.split(':'));
  const v1 = lines.find((l) => l[1]!.split(',').includes('memory'));
  if (v1 && existsSync('/sys/fs/cgroup/memory')) return { dir: join('/sys/fs/cgroup/memory', v1[2]!), v2: false };
  const unified = lines.find((l) => l[0] === '0' && l[1] === '');
  if (unified && existsSync('/sys/fs/cgroup/cgroup.controllers')) return { dir: join('/sys/fs/cgroup', unified[2]!), v2: true };
  throw new Error('no memory cgroup found (neither cgroup v2 nor the v1 memory hierarchy is mounted at /sys/fs/cgroup)');
}

export function memoryLimit(name: string, limitBytes: number): MemoryLimit {
  const own = ownCgroup();
  const dir = join(own.dir, name);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, own.v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(limitBytes));
    if (own.v2) writeFileSync(join(dir, 'memory.swap.max'), '0');
  } catch (e) {
    throw new Error(`cannot create the memory cgroup ${dir} (${(e as Error).message}): run as root on a machine with cgroups, as the local stack requires`);
  }
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return {
    dir,
    limitBytes,
    add: (pid) => writeFileSync(join(dir, 'cgroup.procs'), String(pid)),
    oomKills: () => Number(/oom_kill (\d+)/.exec(read(own.v2 ? 'memory.events' : 'memory.oom_control'))?.[1] ?? 0),
    peakBytes: () => Number(read(own.v2 ? (existsSync(join(dir, 'memory.peak')) ? 'memory.peak' : 'memory.current') : 'memory.max_usage_in_bytes').trim()),
    remove: () => {
      try {
        rmdirSync(dir);
      } catch {
        /* still has processes: the kernel removes nothing; the next run uses another name */
      }
    },
  };
}
