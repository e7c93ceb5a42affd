/**
 * Proves updates chunk by chunk in child processes, so the client keeps answering its socket meanwhile. The
 * processes live as long as their Prover: each loads the witness generator and the proving key once, not per chunk.
 *
 * An update of several chunks is proven one chunk per process at a time, each process on one thread: snarkjs
 * spends a good part of a proof in single-threaded JavaScript, so one single-threaded prover per core proves more
 * per second than one prover using every core (benchmarks/results/prove.md). The last chunk to start, and so a lone
 * one, gets all the threads (pooled-prover.ts's onOneThread).
 */
import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { forkModule } from '../common/fork.js';
import type { CircuitArtifacts } from './build.js';
import { onOneThread } from './pooled-prover.js';
import { chunkInputs, type UpdateStatement } from './statement.js';
import type { ChunkProof, ChunkTiming, UpdateProver } from './update-prover.js';

export type ProverRequest =
  | { type: 'load'; wasm: string; zkey: string }
  | { type: 'prove'; id: number; input: Record<string, string | string[]>; singleThread: boolean };

export type ProverMessage =
  | { type: 'ready' }
  | ({ type: 'proof'; id: number; proof: ChunkProof } & ChunkTiming)
  | { type: 'error'; id: number; message: string };

interface Worker {
  child: ChildProcess;
  /** Resolves once the child listens and was sent the circuit. */
  ready: Promise<void>;
  busy: boolean;
}

interface ChunkJob {
  id: number;
  input: Record<string, string | string[]>;
  resolve: (result: { proof: ChunkProof } & ChunkTiming) => void;
  reject: (error: Error) => void;
}

export interface ProverOptions {
  /** Prover processes, each holding the proving key. @default the machine's cores */
  processes?: number;
}

export class Prover implements UpdateProver {
  private readonly workers: Worker[] = [];
  private readonly queue: ChunkJob[] = [];
  private readonly running = new Map<number, { job: ChunkJob; worker: Worker }>();
  private nextId = 0;
  private closed: Error | undefined;

  constructor(
    readonly artifacts: CircuitArtifacts,
    options: ProverOptions = {},
  ) {
    const processes = Math.max(1, options.processes ?? availableParallelism());
    for (let i = 0; i < processes; i++) this.workers.push(this.spawn());
  }

  private spawn(): Worker {
    const child = forkModule(new URL('./prover-process.ts', import.meta.url));
    const worker: Worker = { child, ready: Promise.resolve(), busy: false };
    worker.ready = new Promise<void>((resolve) => {
      // The child may only be sent messages once it listens: it announces that.
      const onReady = (message: ProverMessage): void => {
        if (message.type !== 'ready') return;
        child.off('message', onReady);
        child.send({ type: 'load', wasm: this.artifacts.wasm, zkey: this.artifacts.zkey } satisfies ProverRequest);
        resolve();
      };
      child.on('message', onReady);
    });
    child.on('message', (message: ProverMessage) => {
      if (message.type === 'ready') return;
      const running = this.running.get(message.id);
      if (!running) return;
      this.running.delete(message.id);
      worker.busy = false;
      if (message.type === 'error') running.job.reject(new Error(`proving failed: ${message.message}`));
      else running.job.resolve(message);
      this.dispatch();
    });
    const lost = (reason: string): void => {
      for (const [id, running] of this.running) {
        if (running.worker !== worker) continue;
        this.running.delete(id);
        running.job.reject(new Error(`prover process ${reason}`));
      }
      const index = this.workers.indexOf(worker);
      if (index >= 0 && !this.closed) this.workers[index] = this.spawn();
      this.dispatch();
    };
    child.on('error', (error) => lost(`failed: ${error.message}`));
    child.on('exit', (code) => lost(`exited (${code})`));
    return worker;
  }

  private dispatch(): void {
    for (const worker of this.workers) {
      if (worker.busy || this.queue.length === 0) continue;
      const job = this.queue.shift()!;
      worker.busy = true;
      this.running.set(job.id, { job, worker });
      const singleThread = onOneThread(this.workers.length, this.queue.length);
      void worker.ready.then(() =>
        worker.child.send({ type: 'prove', id: job.id, input: job.input, singleThread } satisfies ProverRequest),
      );
    }
  }

  private proveChunk(input: Record<string, string | string[]>): Promise<{ proof: ChunkProof } & ChunkTiming> {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, input, resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Proves every chunk of `q` (each at scale 2^−fractionBits[k]); `onChunk` after each. Rejects if any chunk cannot
   * be proven.
   */
  async prove(
    statement: UpdateStatement,
    salt: bigint,
    q: ArrayLike<number>,
    fractionBits: readonly number[],
    onChunk?: (done: number, total: number, timing: ChunkTiming) => void,
  ): Promise<ChunkProof[]> {
    const inputs = chunkInputs(statement, salt, q, fractionBits, this.artifacts.params);
    let done = 0;
    const results = await Promise.all(
      inputs.map((input) =>
        this.proveChunk(input).then((result) => {
          onChunk?.(++done, inputs.length, result);
          return result;
        }),
      ),
    );
    return results.map((result) => result.proof);
  }

  close(): void {
    this.closed ??= new Error('prover closed');
    for (const job of this.queue.splice(0)) job.reject(this.closed);
    for (const worker of this.workers) worker.child.kill();
  }
}

/** Proves one update with a prover of its own (tests, benchmarks); a client keeps one Prover for all its rounds. */
export async function proveUpdate(
  statement: UpdateStatement,
  salt: bigint,
  q: ArrayLike<number>,
  fractionBits: readonly number[],
  artifacts: CircuitArtifacts,
): Promise<ChunkProof[]> {
  const chunks = fractionBits.length;
  const prover = new Prover(artifacts, { processes: Math.min(chunks, availableParallelism()) });
  try {
    return await prover.prove(statement, salt, q, fractionBits);
  } finally {
    prover.close();
  }
}
