/**
 * Checks one update against its task's statement before it may touch the model, cheapest checks first:
 * length and scales, proof count and shape, the public statement (this task, round, sender, H_r, chunk, scale), the
 * commitments recomputed from q (circuits/update-binding.ts, shared with the auditor), and only then the Groth16
 * proofs against the task's own key: in this process's verifier pool, or with `redis`, by the workers of the
 * verification queue (coordinator/verification-queue.ts). Any failure is a coded ZkflError.
 */
import { readFileSync } from 'node:fs';
import { requireCircuit, verificationKeySha256 } from '../circuits/build.js';
import { bytesPerValue, decodeValues, outOfRange } from '../circuits/codec.js';
import { circuitNamed } from '../circuits/params.js';
import type { UpdateStatement } from '../circuits/statement.js';
import { commitmentProblem } from '../circuits/commitment.js';
import { scaleProblem, statementProblem } from '../circuits/update-binding.js';
import { type ProofVerifier, VerificationTimeout, VerifierPool } from '../circuits/verifier.js';
import type { UpdatePayload } from '../protocol/events.js';
import { ZkflError } from '../protocol/errors.js';
import type { TaskView } from '../protocol/rest.js';
import { updateCommitment } from '../contracts/accepted-set.js';
import { VerificationQueue } from './verification-queue.js';

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
  private readonly queue: VerificationQueue | undefined;

  constructor(private readonly options: { verifierProcesses?: number; verifyTimeoutMs: number; redis?: string }) {
    this.queue =
      options.redis === undefined ? undefined : new VerificationQueue(options.redis, options.verifyTimeoutMs);
  }

  async check(payload: UpdatePayload, task: TaskView, statement: UpdateStatement): Promise<CheckedUpdate> {
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
      verifySeconds = await this.checkProofs(q, payload, task, statement);
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
    const verifier = this.verifierFor(task);
    const started = performance.now();
    const seconds = (): number => (performance.now() - started) / 1000;
    const results = await Promise.all(
      proofs.map((chunk) =>
        verifier.verify(chunk.proof, chunk.publicSignals).catch((error: unknown) => {
          if (error instanceof VerificationTimeout) {
            throw new RejectedUpdate(new ZkflError('PROOF_TIMEOUT', error.message), proofs.length, seconds());
          }
          throw error;
        }),
      ),
    );
    const invalid = results.indexOf(false);
    if (invalid >= 0) {
      const error = new ZkflError('PROOF_INVALID', `chunk ${invalid}: the proof does not verify`);
      throw new RejectedUpdate(error, proofs.length, seconds());
    }
    return seconds();
  }

  /** The verifier checking against the task's verification key, started on first use. */
  private verifierFor(task: TaskView): ProofVerifier {
    const key = task.zk.verificationKeySha256!;
    let verifier = this.verifiers.get(key);
    if (!verifier) {
      const artifacts = requireCircuit(circuitNamed(task.zk.circuit));
      if (verificationKeySha256(artifacts) !== key) {
        throw new ZkflError('UNAVAILABLE', `the keys of circuit ${task.zk.circuit} here are not the task's`);
      }
      const verificationKey = JSON.parse(readFileSync(artifacts.verificationKey, 'utf8')) as object;
      verifier = this.queue
        ? this.queue.verifier(verificationKey)
        : new VerifierPool(verificationKey, this.options.verifierProcesses, this.options.verifyTimeoutMs);
      this.verifiers.set(key, verifier);
    }
    return verifier;
  }

  async close(): Promise<void> {
    for (const verifier of this.verifiers.values()) verifier.close();
    this.verifiers.clear();
    await this.queue?.close();
  }
}
