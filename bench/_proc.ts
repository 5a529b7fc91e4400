// Reading a process's CPU time and resident memory from /proc (Linux).

/** Clock ticks per second for /proc/<pid>/stat (`getconf CLK_TCK`; 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system, all threads) a process has used so far.
 *
 * @param pid The process.
 * @returns Milliseconds, or NaN when the process is gone.
 */
export function cpuMillis(pid: number): number {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return NaN;
  }
  // The command name (field 2) may hold spaces: split after its ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  return ticks * 1000 / TICKS_PER_SECOND;
}

/**
 * Resident memory (VmRSS) of a process.
 *
 * @param pid The process.
 * @returns Bytes, or NaN when the process is gone.
 */
export function rssBytes(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * How many file descriptors a process has open.
 *
 * @param pid The process.
 * @returns The count, or NaN when the process is gone.
 */
export function openFiles(pid: number): number {
  try {
    let count = 0;
    for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) count++;
    return count;
  } catch {
    return NaN;
  }
}

/**
 * The soft limit on open files of a process.
 *
 * @param pid The process.
 * @returns The limit, or Infinity when unlimited or unknown.
 */
export function openFileLimit(pid: number): number {
  try {
    const limits = Deno.readTextFileSync(`/proc/${pid}/limits`);
    const match = /^Max open files\s+(\d+)/m.exec(limits);
    return match ? Number(match[1]) : Infinity;
  } catch {
    return Infinity;
  }
}
