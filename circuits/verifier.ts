/**
 * A pool of processes that verify Groth16 proofs against one verification key. A proof is never lost to a process
 * that dies or hangs: a process that exits mid-proof, or takes longer than the timeout, is replaced and the proof
 * sent again (the timeout doubling each time), and only after `attempts` such faults is the proof given up with
 * VerificationUnavailable, which says nothing about the proof itself.
 */
import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { Groth16Proof } from 'snarkjs';
import { forkModule } from '../common/fork.js';
import { createLogger } from '../common/log.js';

const log = createLogger('verifier');

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

/** No verdict could be had (a verifier died, hung or could not be reached): a fault of the verifiers, not the proof. */
export class VerificationUnavailable extends Error {}

/** Checks Groth16 proofs against one verification key, as many at a time as it can. */
export interface ProofVerifier {
  /** True when the proof verifies for these public signals, false when it does not; rejects when no verdict was had. */
  verify(proof: Groth16Proof, publicSignals: string[]): Promise<boolean>;
  close(): void;
}

interface Job {
  request: VerifyRequest;
  resolve: (valid: boolean) => void;
  reject: (error: Error) => void;
  /** Verifier processes lost while they held this job. */
  faults: number;
}

interface Slot {
  worker: ChildProcess;
  ready: Promise<void>;
  job?: Job;
  timer?: NodeJS.Timeout;
  /** Killed by the pool on purpose: its exit is no fault. */
  retired?: boolean;
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
    private readonly attempts = 3,
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
    worker.on('error', (error) => this.lost(slot, error.message));
    worker.on('exit', (code, signal) => this.lost(slot, `the verifier process exited (${signal ?? code})`));
    return slot;
  }

  verify(proof: Groth16Proof, publicSignals: string[]): Promise<boolean> {
    if (this.closed) return Promise.reject(new VerificationUnavailable('the verifier pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { id: this.nextId++, proof, publicSignals }, resolve, reject, faults: 0 });
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
        const timeoutMs = this.timeoutMs * 2 ** job.faults;
        slot.timer = setTimeout(() => this.lost(slot, `no verdict within ${timeoutMs} ms`), timeoutMs);
        slot.worker.send(job.request);
      });
    }
  }

  private release(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.job = undefined;
    this.dispatch();
  }

  /**
   * A process died, failed or hung (`why`): it is replaced, and the proof it held goes first in line again, or is
   * given up once it has seen `attempts` faults.
   */
  private lost(slot: Slot, why: string): void {
    if (slot.retired) return;
    slot.retired = true;
    clearTimeout(slot.timer);
    slot.worker.kill('SIGKILL');
    const index = this.slots.indexOf(slot);
    if (!this.closed && index >= 0) this.slots[index] = this.spawn();
    const job = slot.job;
    if (job && ++job.faults >= this.attempts) {
      job.reject(new VerificationUnavailable(`no verdict after ${job.faults} verifier faults; the last: ${why}`));
    } else if (job) {
      log.warn('a verifier process was lost mid-proof; verifying the proof again', { reason: why });
      this.queue.unshift(job);
    }
    this.dispatch();
  }

  close(): void {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new VerificationUnavailable('the verifier pool closed'));
    for (const slot of this.slots) {
      slot.retired = true;
      clearTimeout(slot.timer);
      slot.worker.kill('SIGKILL');
      slot.job?.reject(new VerificationUnavailable('the verifier pool closed'));
    }
  }
}
