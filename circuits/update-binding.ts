/**
 * The binding rule, written once for everyone who checks an update's proofs — the coordinator before it
 * aggregates, `zkfl verify` afterwards: one proof per chunk; each proof's statement is the one the checker builds
 * itself for this task, round, sender, global model, chunk and scale; and, where the values are at hand, each
 * chunk's commitment recomputed from them (circuits/commitment.ts). The Groth16 proofs themselves are verified
 * elsewhere (a verifier pool).
 */
import type { ErrorCode } from '../common/errors.js';
import { MAX_FRACTION_BITS } from './codec.js';
import { publicSignalNames } from './params.js';
import type { ChunkProof } from './update-prover.js';
import { statementSignal, type UpdateStatement } from './statement.js';

/** What is wrong with an update's binding, with the code the coordinator refuses it with. */
export interface BindingProblem {
  code: Extract<
    ErrorCode,
    'WRONG_LENGTH' | 'PROOF_MISSING' | 'PROOF_MALFORMED' | 'PROOF_MISMATCH' | 'COMMITMENT_MISMATCH'
  >;
  message: string;
}

/** The proofs of one update and the scale each chunk was quantized at. */
export interface ProvenChunks {
  proofs: readonly ChunkProof[];
  fractionBits: readonly number[];
}

/** One scale per chunk, each within [0, MAX_FRACTION_BITS]. */
export function scaleProblem(fractionBits: readonly number[], chunks: number): BindingProblem | undefined {
  if (fractionBits.length !== chunks) {
    return { code: 'WRONG_LENGTH', message: `${fractionBits.length} chunk scales for ${chunks} chunks` };
  }
  const bad = fractionBits.findIndex((f) => !Number.isInteger(f) || f < 0 || f > MAX_FRACTION_BITS);
  if (bad >= 0) return { code: 'WRONG_LENGTH', message: `chunk ${bad}: scale 2^-${fractionBits[bad]} out of range` };
  return undefined;
}

/** One proof per chunk, each with the statement this checker expects for that chunk. */
export function statementProblem(
  update: ProvenChunks,
  statement: UpdateStatement,
  chunks: number,
): BindingProblem | undefined {
  if (update.proofs.length === 0) {
    return { code: 'PROOF_MISSING', message: `the update carries no proofs; it needs ${chunks} chunk proof(s)` };
  }
  if (update.proofs.length !== chunks) {
    return { code: 'PROOF_MALFORMED', message: `${update.proofs.length} proofs for ${chunks} chunks` };
  }
  const scales = scaleProblem(update.fractionBits, chunks);
  if (scales) return scales;
  for (let k = 0; k < chunks; k++) {
    const signals = update.proofs[k]!.publicSignals;
    if (signals.length !== publicSignalNames.length) {
      return {
        code: 'PROOF_MALFORMED',
        message: `chunk ${k}: ${signals.length} public signals, expected ${publicSignalNames.length}`,
      };
    }
    if (signals[1] !== String(statementSignal(statement, k, update.fractionBits[k]!))) {
      return {
        code: 'PROOF_MISMATCH',
        message: `chunk ${k}: the proof is bound to another task, round, address, global model, chunk or scale`,
      };
    }
  }
  return undefined;
}
