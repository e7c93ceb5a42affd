/**
 * A pool of processes that verify Groth16 proofs against one verification key. A proof that takes longer than
 * the timeout is abandoned and its process replaced, so nothing a client sends can hang the pool.
 */
import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { Groth16Proof } from 'snarkjs';
import { forkModule } from '../common/fork.js';

export interface VerifyRequest {
  id: number;
  proof: Groth16Proof;
  publicSignals: string[];
}

export interface VerifyResponse {
  id: number;
  valid: boolean;
  error?: string;
}

export class VerificationTimeout extends Error {}

/** Checks Groth16 proofs against one verification key, as many at a time as it can. */
export interface ProofVerifier {
  /** True when the proof verifies for these public signals; rejects with VerificationTimeout past a timeout. */
  verify(proof: Groth16Proof, publicSignals: string[]): Promise<boolean>;
  close(): void;
}

interface Job {
  request: VerifyRequest;
  resolve: (valid: boolean) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: ChildProcess;
  ready: Promise<void>;
  job?: Job;
  timer?: NodeJS.Timeout;
}

export class VerifierPool implements ProofVerifier {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly verificationKey: object,
    readonly size = Math.max(1, availableParallelism()),
    private readonly timeoutMs = 10_000,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const worker = forkModule(new URL('./verifier-process.ts', import.meta.url));
    const slot: Slot = { worker, ready: Promise.resolve() };
    // -2: the process listens, so it can be sent the key; -1: it holds the key and takes proofs.
    slot.ready = new Promise((resolve) => {
      const onReady = (response: VerifyResponse): void => {
        if (response.id === -2) worker.send({ verificationKey: this.verificationKey });
        if (response.id !== -1) return;
        worker.off('message', onReady);
        resolve();
      };
      worker.on('message', onReady);
    });
    worker.on('message', (response: VerifyResponse) => {
      if (response.id < 0 || slot.job?.request.id !== response.id) return;
      const job = slot.job;
      this.release(slot);
      job.resolve(response.valid);
    });
    worker.on('error', (error) => {
      const job = slot.job;
      this.replace(slot);
      job?.reject(error);
    });
    return slot;
  }

  /** True when the proof verifies for these public signals; rejects with VerificationTimeout past the timeout. */
  verify(proof: Groth16Proof, publicSignals: string[]): Promise<boolean> {
    if (this.closed) return Promise.reject(new Error('verifier pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { id: this.nextId++, proof, publicSignals }, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job || this.queue.length === 0) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      void slot.ready.then(() => {
        if (slot.job !== job) return;
        slot.timer = setTimeout(() => {
          this.replace(slot);
          job.reject(new VerificationTimeout(`verification took longer than ${this.timeoutMs} ms`));
        }, this.timeoutMs);
        slot.worker.send(job.request);
      });
    }
  }

  private release(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.job = undefined;
    this.dispatch();
  }

  /** Drops a stuck or broken worker and starts a fresh one in its place. */
  private replace(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.worker.kill('SIGKILL');
    const index = this.slots.indexOf(slot);
    if (!this.closed && index >= 0) this.slots[index] = this.spawn();
    this.dispatch();
  }

  close(): void {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('verifier pool closed'));
    for (const slot of this.slots) slot.worker.kill('SIGKILL');
  }
}
