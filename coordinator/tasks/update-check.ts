/**
 * Checks one update against its task's statement before it may touch the model, cheapest checks first:
 * length and scales, proof count and shape, the public statement (this task, round, sender, H_r, chunk, scale), the
 * commitments recomputed from q (circuits/update-binding.ts, shared with the auditor), and only then the Groth16
 * proofs against the task's own key: in this process's verifier pool, or with `redis`, by the workers of the
 * verification queue (coordinator/tasks/verification-queue.ts). Any failure of the update is a coded ZkflError.
 *
 * A fault of the verifiers is never the update's: a proof that got no verdict (a worker or verifier process died,
 * hung, Redis was away) is verified again, in this process's own pool, until it has one, for as long as the update
 * is still wanted. Only a proof that verifies false rejects an update (PROOF_INVALID).
 */
import { readFileSync } from 'node:fs';
import { requireCircuit, verificationKeySha256 } from '../../circuits/build.js';
import { bytesPerValue, decodeValues, outOfRange } from '../../circuits/codec.js';
import { circuitNamed } from '../../circuits/params.js';
import type { UpdateStatement } from '../../circuits/statement.js';
import type { AuditedUpdate } from '../../protocol/audit.js';
import { commitmentProblem } from '../../circuits/commitment.js';
import { scaleProblem, statementProblem } from '../../circuits/update-binding.js';
import { type ProofVerifier, VerifierPool } from '../../circuits/verifier.js';
import { createLogger } from '../../common/log.js';
import type { UpdatePayload } from '../../protocol/events.js';
import { ZkflError } from '../../common/errors.js';
import type { TaskView } from '../../protocol/rest.js';
import { updateCommitment } from '../../contracts/accepted-set.js';
import { VerificationQueue } from './verification-queue.js';

const log = createLogger('coordinator');

type AuditedProof = AuditedUpdate['proofs'][number];

/** What the task runner tells the checker about the update it checks. */
export interface CheckContext {
  /** False once nobody waits for the update any more (its task stopped): retrying ends. */
  wanted(): boolean;
  /** The verifiers failed to give a verdict for now (`reason`): the update is verified again. */
  delayed(reason: string): void;
}

export interface CheckedUpdate {
  /** The quantized update, one value per parameter. */
  q: Int8Array | Int16Array;
  /** Each chunk's scale exponent: the update is q·2^−f. */
  fractionBits: number[];
  /** Chunk proofs verified (0 when the task takes updates without proofs). */
  proofsVerified: number;
  /** Seconds from handing its proofs to the verifiers to the last verdict (waiting for a verifier included). */
  verifySeconds: number;
  /** The update's commitment: keccak256 of its chunk commitments (null without proofs). */
  commitment: string | null;
}

/** A rejected update, how many proofs it carried and how long verifying them took, for the round's counts. */
export class RejectedUpdate extends ZkflError {
  constructor(
    error: ZkflError,
    readonly proofs: number,
    readonly verifySeconds: number,
  ) {
    super(error.code, error.message, error.field);
  }
}

export class UpdateChecker {
  /** One verifier per verification key: tasks of different circuits are each checked against their own. */
  private readonly verifiers = new Map<string, ProofVerifier>();
  /** With the queue: this process's own pools, per key, for proofs the queue gave no verdict for. */
  private readonly fallbacks = new Map<string, ProofVerifier>();
  private readonly queue: VerificationQueue | undefined;
  private closed = false;

  constructor(private readonly options: { verifierProcesses?: number; verifyTimeoutMs: number; redis?: string }) {
    this.queue =
      options.redis === undefined ? undefined : new VerificationQueue(options.redis, options.verifyTimeoutMs);
  }

  async check(
    payload: UpdatePayload,
    task: TaskView,
    statement: UpdateStatement,
    context: CheckContext,
  ): Promise<CheckedUpdate> {
    const q = decodeValues(payload.q, task.numParams, task.zk.valueBits);
    if (!q) {
      throw new ZkflError(
        'WRONG_LENGTH',
        `update has ${payload.q.byteLength} bytes; the model needs ${task.numParams} values of ${bytesPerValue(task.zk.valueBits)} byte(s)`,
      );
    }
    const outside = outOfRange(q, task.zk.valueBits);
    if (outside >= 0) {
      throw new ZkflError('VALIDATION_FAILED', `value ${outside} is not a ${task.zk.valueBits}-bit integer`, 'q');
    }
    const scales = scaleProblem(payload.fractionBits, task.zk.chunks);
    if (scales) throw new ZkflError(scales.code, scales.message);
    const checked = { q, fractionBits: payload.fractionBits };
    if (!task.spec.proofs) return { ...checked, proofsVerified: 0, verifySeconds: 0, commitment: null };
    const proofs = payload.proofs ?? [];
    let verifySeconds: number;
    try {
      verifySeconds = await this.checkProofs(q, payload, task, statement, context);
    } catch (error) {
      if (error instanceof RejectedUpdate || !(error instanceof ZkflError)) throw error;
      throw new RejectedUpdate(error, proofs.length, 0);
    }
    return {
      ...checked,
      proofsVerified: proofs.length,
      verifySeconds,
      commitment: updateCommitment(proofs.map((chunk) => chunk.publicSignals[0]!)),
    };
  }

  private async checkProofs(
    q: Int8Array | Int16Array,
    payload: UpdatePayload,
    task: TaskView,
    statement: UpdateStatement,
    context: CheckContext,
  ): Promise<number> {
    const proofs = payload.proofs ?? [];
    if (payload.salt === undefined) {
      throw new ZkflError('PROOF_MISSING', `task ${task.id} takes an update only with its salt and chunk proofs`);
    }
    const update = { proofs, fractionBits: payload.fractionBits, q, salt: BigInt(payload.salt) };
    const params = circuitNamed(task.zk.circuit);
    const problem =
      statementProblem(update, statement, task.zk.chunks) ?? (await commitmentProblem(update, statement, params));
    if (problem) throw new ZkflError(problem.code, problem.message);
    const started = performance.now();
    const seconds = (): number => (performance.now() - started) / 1000;
    const results = await Promise.all(proofs.map((chunk) => this.verdict(task, chunk, context)));
    const invalid = results.indexOf(false);
    if (invalid >= 0) {
      const error = new ZkflError('PROOF_INVALID', `chunk ${invalid}: the proof does not verify`);
      throw new RejectedUpdate(error, proofs.length, seconds());
    }
    return seconds();
  }

  /**
   * The proof's verdict: from the task's verifier first, then, after each fault of the verifiers, from this
   * process's own pool, a little later each time, for as long as the update is wanted.
   */
  private async verdict(task: TaskView, chunk: AuditedProof, context: CheckContext): Promise<boolean> {
    let reason = '';
    for (let attempt = 1; ; attempt++) {
      if (this.closed || !context.wanted()) {
        throw new ZkflError(
          'UNAVAILABLE',
          `the coordinator stopped before the proof had a verdict${reason && ` (${reason})`}`,
        );
      }
      try {
        return await this.verifierFor(task, attempt > 1).verify(chunk.proof, chunk.publicSignals);
      } catch (error) {
        reason = (error as Error).message;
        log.warn('no verdict for a proof; verifying it again', { task: task.id, attempt, reason });
        context.delayed(reason);
        await new Promise((resolve) => setTimeout(resolve, Math.min(attempt - 1, 10) * 1000));
      }
    }
  }

  /**
   * The verifier checking against the task's verification key, started on first use: the queue's when there is one,
   * unless `local`; else this process's pool.
   */
  private verifierFor(task: TaskView, local: boolean): ProofVerifier {
    const key = task.zk.verificationKeySha256!;
    const queue = local ? undefined : this.queue;
    const verifiers = this.queue && local ? this.fallbacks : this.verifiers;
    let verifier = verifiers.get(key);
    if (!verifier) {
      const artifacts = requireCircuit(circuitNamed(task.zk.circuit));
      if (verificationKeySha256(artifacts) !== key) {
        throw new ZkflError('UNAVAILABLE', `the keys of circuit ${task.zk.circuit} here are not the task's`);
      }
      const verificationKey = JSON.parse(readFileSync(artifacts.verificationKey, 'utf8')) as object;
      verifier = queue
        ? queue.verifier(verificationKey)
        : new VerifierPool(verificationKey, this.options.verifierProcesses, this.options.verifyTimeoutMs);
      verifiers.set(key, verifier);
    }
    return verifier;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const verifiers of [this.verifiers, this.fallbacks]) {
      for (const verifier of verifiers.values()) verifier.close();
      verifiers.clear();
    }
    await this.queue?.close();
  }
}
