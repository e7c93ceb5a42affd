/** Proves an update chunk by chunk in a child process, so the client keeps answering its socket meanwhile. */
import type { Groth16Proof } from 'snarkjs';
import { forkModule } from '../common/fork.js';
import type { CircuitArtifacts } from './build.js';
import { chunkInputs, type UpdateStatement } from './statement.js';

export interface ChunkProof {
  proof: Groth16Proof;
  /** commitment, statement (circuits/statement.ts) — decimal strings. */
  publicSignals: string[];
}

export interface ProverJob {
  wasm: string;
  zkey: string;
  inputs: Array<Record<string, string | string[]>>;
}

export type ProverMessage = { type: 'proof'; chunk: number; proof: ChunkProof } | { type: 'error'; message: string };

/** Proves every chunk of `q`; `onChunk(done, total)` after each. Rejects if any chunk cannot be proven. */
export function proveUpdate(
  statement: UpdateStatement,
  salt: bigint,
  q: ArrayLike<number>,
  artifacts: CircuitArtifacts,
  onChunk?: (done: number, total: number) => void,
): Promise<ChunkProof[]> {
  const inputs = chunkInputs(statement, salt, q, artifacts.params);
  const job: ProverJob = { wasm: artifacts.wasm, zkey: artifacts.zkey, inputs };
  const child = forkModule(new URL('./prover-process.ts', import.meta.url));
  child.send(job);
  const proofs: ChunkProof[] = [];
  return new Promise((resolve, reject) => {
    child.on('message', (message: ProverMessage) => {
      if (message.type === 'error') {
        reject(new Error(`proving failed: ${message.message}`));
        return;
      }
      proofs[message.chunk] = message.proof;
      onChunk?.(message.chunk + 1, inputs.length);
      if (proofs.filter(Boolean).length === inputs.length) resolve(proofs);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (proofs.filter(Boolean).length < inputs.length) reject(new Error(`prover exited (${code}) before finishing`));
    });
  });
}
