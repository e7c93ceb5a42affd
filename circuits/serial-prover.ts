/**
 * Proves an update's chunks one after another in this thread, with the circuit held in memory: a browser
 * contributor's Web Worker (web/workers/contribute-worker.ts). Platform-neutral. Each proof runs on this one thread:
 * in Chromium, snarkjs's helper threads (Web Workers that copy every buffer they are sent) made a `default15` chunk
 * slower, 4.7 s against 3.6 s on one thread (2 cores, benchmarks/results/browser.md).
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
      const { proof, ...timing } = await this.prover.prove(input, true);
      proofs.push(proof);
      onChunk?.(proofs.length, inputs.length, timing);
    }
    return proofs;
  }
}
