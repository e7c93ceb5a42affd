/**
 * Proves an update's chunks one after another in this thread, with the circuit held in memory: a browser
 * contributor's Web Worker (web/workers/contribute-worker.ts). snarkjs spreads each proof over its own helper
 * threads where the platform gives it some. Platform-neutral.
 */
import { type ChunkProver, chunkProver } from './chunk-prover.js';
import type { CircuitParams } from './params.js';
import { chunkInputs, type UpdateStatement } from './statement.js';
import type { ChunkProof, ChunkTiming, UpdateProver } from './update-prover.js';

export class SerialProver implements UpdateProver {
  private constructor(
    private readonly params: CircuitParams,
    private readonly prover: ChunkProver,
  ) {}

  /** A prover for circuit `params` whose witness generator is `wasm` and proving key `zkey`. */
  static async load(params: CircuitParams, wasm: Uint8Array, zkey: Uint8Array): Promise<SerialProver> {
    return new SerialProver(params, await chunkProver(wasm, zkey));
  }

  async prove(
    statement: UpdateStatement,
    salt: bigint,
    q: ArrayLike<number>,
    fractionBits: readonly number[],
    onChunk?: (done: number, total: number, timing: ChunkTiming) => void,
  ): Promise<ChunkProof[]> {
    const inputs = chunkInputs(statement, salt, q, fractionBits, this.params);
    const proofs: ChunkProof[] = [];
    for (const input of inputs) {
      const { proof, ...timing } = await this.prover.prove(input, false);
      proofs.push(proof);
      onChunk?.(proofs.length, inputs.length, timing);
    }
    return proofs;
  }
}
