/** The machine a benchmark ran on, for the results tables. */
import { cpus, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
}

function statusMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN) / 1024;
}

/** Peak resident memory (VmHWM) of a process over its life, in MiB. */
export const peakRssMiB = (pid: number): number => statusMiB(pid, 'VmHWM');

/** Current resident memory (VmRSS) of a process, in MiB. */
export const rssMiB = (pid: number): number => statusMiB(pid, 'VmRSS');
