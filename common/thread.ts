import { Worker } from 'node:worker_threads';

/**
 * Starts the TypeScript module at `module` in a worker thread, with tsx's loader registered there as in child
 * processes (common/fork-boot.mjs). Only for modules that load no snarkjs: its curve library takes any worker thread
 * for one of its own (common/fork.ts).
 */
export function startThread(module: URL): Worker {
  return new Worker(new URL('./fork-boot.mjs', import.meta.url), { workerData: { module: module.href } });
}
