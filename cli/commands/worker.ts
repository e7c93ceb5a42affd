/** `zkfl worker`. */
import { startVerificationWorker } from '../../coordinator/tasks/verification-queue.js';
import { integer, parse, required } from '../args.js';

/** This command's lines of `zkfl --help`. */
export const usage = `  zkfl worker --redis redis://… [--concurrency N] [--lock-seconds S]`;

/** `zkfl worker`: verifies proofs from a coordinator's queue (`zkfl coordinator --redis`) until stopped. */
export async function run(args: string[]): Promise<void> {
  const values = parse(args, {
    redis: { type: 'string' },
    concurrency: { type: 'string' },
    'lock-seconds': { type: 'string' },
  });
  const worker = await startVerificationWorker({
    redisUrl: required(values, 'redis'),
    concurrency: integer(values, 'concurrency', 1, 1),
    lockSeconds: integer(values, 'lock-seconds', 10, 1),
  });
  process.stderr.write(`verifying proofs from ${required(values, 'redis')}\n`);
  // A worker finishes its jobs before it exits, but not forever: with Redis away, closing would wait for it.
  const shutdown = (): void => {
    setTimeout(() => process.exit(0), 10_000).unref();
    void worker.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
