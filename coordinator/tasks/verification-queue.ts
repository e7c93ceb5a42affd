/**
 * Proof verification as jobs on a BullMQ queue in Redis (`zkfl coordinator --redis URL`), done by
 * `zkfl worker --redis URL` processes on any machine. A job is one chunk proof; its id is the hash of the proof,
 * its public signals and the key, so a proof sent twice is verified once and its result read back. A worker that
 * dies mid-job holds its lock until `lockSeconds` pass; BullMQ then hands the job to another worker. The
 * coordinator does not wait for that: a proof without a verdict within its timeout (no worker alive, a dead worker's
 * lock, Redis away) is VerificationUnavailable, and the coordinator verifies it itself (coordinator/tasks/update-check.ts).
 * Verification keys are stored in Redis once, under their sha256, and cached by the workers.
 */
import { Queue, QueueEvents, Worker, type ConnectionOptions } from 'bullmq';
import type { Groth16Proof } from 'snarkjs';
import * as snarkjs from 'snarkjs';
import { sha256Hex } from '../../common/bytes.js';
import { createLogger } from '../../common/log.js';
import { type ProofVerifier, VerificationUnavailable } from '../../circuits/verifier.js';
import { holdHereForTest } from '../../common/test-hooks.js';
import { canonicalJson } from '../../protocol/canonical.js';

const log = createLogger('verification-queue');
export const verificationQueueName = 'zkfl-verify';
const keyPrefix = 'zkfl:verification-key:';

interface VerifyJob {
  /** sha256 of the verification key's JSON, stored at keyPrefix + key. */
  key: string;
  proof: Groth16Proof;
  publicSignals: string[];
}

/** BullMQ's connection options from a redis:// URL (workers need maxRetriesPerRequest null). */
export function redisConnection(url: string): ConnectionOptions {
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new Error(`${url} is not a redis:// URL`);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    db: Number(parsed.pathname.slice(1) || 0),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/** The coordinator's side: sends proofs to the queue and waits for the workers' verdicts. */
export class VerificationQueue {
  private readonly queue: Queue<VerifyJob, boolean>;
  private readonly events: QueueEvents;
  private readonly stored = new Map<string, Promise<unknown>>();

  constructor(
    redisUrl: string,
    private readonly timeoutMs: number,
  ) {
    const connection = redisConnection(redisUrl);
    this.queue = new Queue(verificationQueueName, { connection });
    this.events = new QueueEvents(verificationQueueName, { connection });
    // Every proof awaiting its verdict listens on both (BullMQ's waitUntilFinished): as many as updates in flight.
    this.queue.setMaxListeners(0);
    this.events.setMaxListeners(0);
  }

  /** A verifier for one key: each proof becomes a job (or finds the job that already verified it). */
  verifier(verificationKey: object): ProofVerifier {
    const text = canonicalJson(verificationKey);
    const key = sha256Hex(text);
    return {
      verify: async (proof, publicSignals) => {
        const jobId = sha256Hex(canonicalJson({ key, proof, publicSignals }));
        const verdict = (async () => {
          await this.storeKey(key, text);
          const job = await this.queue.add(
            'verify',
            { key, proof, publicSignals },
            { jobId, attempts: 3, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } },
          );
          return job.waitUntilFinished(this.events, this.timeoutMs);
        })();
        // While Redis is away its commands wait for it (maxRetriesPerRequest null): the timeout covers them too.
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no worker verified the proof within ${this.timeoutMs} ms`)),
            this.timeoutMs,
          );
        });
        try {
          return await Promise.race([verdict, late]);
        } catch (error) {
          verdict.catch(() => undefined);
          throw new VerificationUnavailable(`the verification queue: ${(error as Error).message}`);
        } finally {
          clearTimeout(timer);
        }
      },
      close: () => undefined,
    };
  }

  private storeKey(key: string, text: string): Promise<unknown> {
    let stored = this.stored.get(key);
    if (!stored) {
      stored = this.queue.client.then((client) => client.set(keyPrefix + key, text));
      stored.catch(() => this.stored.delete(key));
      this.stored.set(key, stored);
    }
    return stored;
  }

  async close(): Promise<void> {
    await Promise.all([this.queue.close(), this.events.close()]);
  }
}

export interface WorkerOptions {
  redisUrl: string;
  /** Jobs verified at once by this process. @default 1 */
  concurrency?: number;
  /** How long a dead worker's job waits before another worker takes it. @default 10 */
  lockSeconds?: number;
  onVerified?: () => void;
}

/** A `zkfl worker`: verifies the queue's proofs on one single-threaded curve, until closed. */
export async function startVerificationWorker(options: WorkerOptions): Promise<{ close(): Promise<void> }> {
  // snarkjs's verify reuses a cached curve: caching a single-threaded one keeps the worker to one thread per job.
  (globalThis as { curve_bn128?: unknown }).curve_bn128 = await snarkjs.curves.getCurveFromName('bn128', {
    singleThread: true,
  });
  const connection = redisConnection(options.redisUrl);
  const keys = new Map<string, object>();
  const lockMs = (options.lockSeconds ?? 10) * 1000;
  const worker = new Worker<VerifyJob, boolean>(
    verificationQueueName,
    async (job) => {
      let key = keys.get(job.data.key);
      if (!key) {
        const text = await (await worker.client).get(keyPrefix + job.data.key);
        if (text === null || sha256Hex(text) !== job.data.key)
          throw new Error(`unknown verification key ${job.data.key}`);
        key = JSON.parse(text) as object;
        keys.set(job.data.key, key);
      }
      await holdHereForTest('ZKFL_TEST_HOLD_VERIFICATION');
      const valid = await snarkjs.groth16.verify(key, job.data.publicSignals, job.data.proof);
      options.onVerified?.();
      return valid;
    },
    { connection, concurrency: options.concurrency ?? 1, lockDuration: lockMs, stalledInterval: lockMs },
  );
  worker.on('failed', (job, error) => log.warn('verification job failed', { job: job?.id, error: error.message }));
  await worker.waitUntilReady();
  log.info('verification worker ready', { queue: verificationQueueName, concurrency: options.concurrency ?? 1 });
  return { close: () => worker.close() };
}
