import { type ChildProcess, fork } from 'node:child_process';

/**
 * Starts the TypeScript module at `module` in a child process with an IPC channel (advanced serialization, so
 * bigints and typed arrays cross it), with Node options `nodeOptions` added to the parent's (a heap limit, say). Child processes rather than worker threads: snarkjs's curve library treats
 * any worker thread as one of its own.
 */
export function forkModule(module: URL, nodeOptions: string[] = []): ChildProcess {
  return fork(new URL('./fork-boot.mjs', import.meta.url), [module.href], {
    serialization: 'advanced',
    execArgv: [...process.execArgv, ...nodeOptions],
    // stdout stays free for the parent's machine-readable output; the child's logs go to stderr.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
}
