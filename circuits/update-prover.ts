/**
 * What proving an update is, whoever proves it: the Node client's pool of prover processes (prover.ts) or, for a
 * contributor in a browser, Web Workers. Platform-neutral: the client's round loop and the audit know only this.
 */
import type { Groth16Proof } from 'snarkjs';
import type { UpdateStatement } from './statement.js';

export interface ChunkProof {
  proof: Groth16Proof;
  /** commitment, statement (circuits/statement.ts) — decimal strings. */
  publicSignals: string[];
}

/** Time spent on one chunk, for progress displays and benchmarks. */
export interface ChunkTiming {
  witnessMs: number;
  proveMs: number;
}

export interface UpdateProver {
  /** Proves every chunk of the quantized update `q` at its scales, in order; `onChunk` after each one. */
  prove(
    statement: UpdateStatement,
    salt: bigint,
    q: ArrayLike<number>,
    fractionBits: readonly number[],
    onChunk?: (done: number, total: number, timing: ChunkTiming) => void,
  ): Promise<ChunkProof[]>;
}
