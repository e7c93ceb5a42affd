/**
 * Checks one update against its task's statement before it may touch the model, cheapest checks first:
 * length, proof count and shape, the public statement (this task, round, sender, H_r, chunk, bound), the commitments
 * recomputed from q, and only then the Groth16 proofs in the verifier pool. Any failure is a coded ZkflError.
 */
import { readFileSync } from 'node:fs';
import { requireCircuit } from '../circuits/build.js';
import { commitChunk } from '../circuits/commitment.js';
import { type CircuitParams, circuitNamed, publicSignalNames } from '../circuits/params.js';
import { statementSignal, type UpdateStatement } from '../circuits/statement.js';
import { VerificationTimeout, VerifierPool } from '../circuits/verifier.js';
import type { UpdatePayload } from '../protocol/events.js';
import { ZkflError } from '../protocol/errors.js';
import type { TaskView } from '../protocol/rest.js';
import { alignedBuffer } from '../common/bytes.js';
import { updateCommitment } from '../contracts/accepted-set.js';

export interface CheckedUpdate {
  /** The quantized update, one int16 per parameter. */
  q: Int16Array;
  /** Chunk proofs verified (0 when the task takes updates without proofs). */
  proofsVerified: number;
  /** The update's commitment: keccak256 of its chunk commitments (null without proofs). */
  commitment: string | null;
}

/** A rejected update and how many of its proofs it carried, for the round's proof counts. */
export class RejectedUpdate extends ZkflError {
  constructor(
    error: ZkflError,
    readonly proofs: number,
  ) {
    super(error.code, error.message, error.field);
  }
}

export class UpdateChecker {
  private pool: VerifierPool | undefined;

  constructor(private readonly options: { verifierProcesses?: number; verifyTimeoutMs: number }) {}

  async check(payload: UpdatePayload, task: TaskView, statement: UpdateStatement): Promise<CheckedUpdate> {
    if (payload.q.byteLength !== 2 * task.numParams) {
      throw new ZkflError(
        'WRONG_LENGTH',
        `update has ${payload.q.byteLength} bytes; the model needs ${task.numParams} int16 values`,
      );
    }
    const q = new Int16Array(alignedBuffer(payload.q));
    if (!task.spec.proofs) return { q, proofsVerified: 0, commitment: null };
    const proofs = payload.proofs ?? [];
    try {
      await this.checkProofs(q, payload, task, statement);
    } catch (error) {
      throw error instanceof ZkflError ? new RejectedUpdate(error, proofs.length) : error;
    }
    return {
      q,
      proofsVerified: proofs.length,
      commitment: updateCommitment(proofs.map((chunk) => chunk.publicSignals[0]!)),
    };
  }

  private async checkProofs(
    q: Int16Array,
    payload: UpdatePayload,
    task: TaskView,
    statement: UpdateStatement,
  ): Promise<void> {
    const { chunks } = task.zk;
    const proofs = payload.proofs ?? [];
    if (proofs.length === 0 || payload.salt === undefined) {
      throw new ZkflError(
        'PROOF_MISSING',
        `task ${task.id} takes an update only with its salt and ${chunks} chunk proof(s)`,
      );
    }
    if (proofs.length !== chunks)
      throw new ZkflError('PROOF_MALFORMED', `${proofs.length} proofs for ${chunks} chunks`);
    const params = circuitNamed(task.zk.circuit);
    const salt = BigInt(payload.salt);
    for (let k = 0; k < chunks; k++) {
      const signals = proofs[k]!.publicSignals;
      if (signals.length !== publicSignalNames.length) {
        throw new ZkflError(
          'PROOF_MALFORMED',
          `chunk ${k}: ${signals.length} public signals, expected ${publicSignalNames.length}`,
        );
      }
      const expected = statementSignal(statement, k);
      if (signals[1] !== String(expected)) {
        throw new ZkflError(
          'PROOF_MISMATCH',
          `chunk ${k}: the proof is bound to another task, round, address, global model, chunk or norm bound`,
        );
      }
      const values = new Int32Array(params.chunkSize);
      values.set(q.subarray(k * params.chunkSize, (k + 1) * params.chunkSize));
      const commitment = await commitChunk({ salt, statement: expected }, values, params);
      if (String(commitment) !== signals[0]) {
        throw new ZkflError(
          'COMMITMENT_MISMATCH',
          `chunk ${k}: the proof commits to other values than the update carries`,
        );
      }
    }
    const pool = this.verifierPool(params);
    const results = await Promise.all(
      proofs.map((chunk) =>
        pool.verify(chunk.proof, chunk.publicSignals).catch((error: unknown) => {
          if (error instanceof VerificationTimeout) throw new ZkflError('PROOF_TIMEOUT', error.message);
          throw error;
        }),
      ),
    );
    const invalid = results.indexOf(false);
    if (invalid >= 0) throw new ZkflError('PROOF_INVALID', `chunk ${invalid}: the proof does not verify`);
  }

  private verifierPool(params: CircuitParams): VerifierPool {
    if (!this.pool) {
      const verificationKey = JSON.parse(readFileSync(requireCircuit(params).verificationKey, 'utf8')) as object;
      this.pool = new VerifierPool(verificationKey, this.options.verifierProcesses, this.options.verifyTimeoutMs);
    }
    return this.pool;
  }

  close(): void {
    this.pool?.close();
  }
}
