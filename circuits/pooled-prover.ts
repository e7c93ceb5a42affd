/**
 * Proves an update's chunks on a pool of chunk provers, each taking the next chunk as soon as it is free: a browser
 * contributor's Web Workers (web/workers/), one per core — as the Node client's prover processes do (prover.ts).
 * Several chunks are proven one per member, each on one thread (snarkjs spends much of a proof in single-threaded
 * JavaScript, so a member per core proves more per second); a lone chunk gets snarkjs's helper threads, which in
 * Chromium made a warm `default15` proof about 20 % faster than one thread (benchmarks/results/browser.md; the first
 * proof pays for starting them). Platform-neutral.
 */
import type { ChunkProver } from './chunk-prover.js';
import type { CircuitParams } from './params.js';
import { chunkInputs, type UpdateStatement } from './statement.js';
import type { ChunkProof, ChunkTiming, UpdateProver } from './update-prover.js';

export class PooledProver implements UpdateProver {
  constructor(
    private readonly params: CircuitParams,
    private readonly members: readonly ChunkProver[],
  ) {
    if (members.length === 0) throw new Error('a prover pool needs at least one member');
  }

  async prove(
    statement: UpdateStatement,
    salt: bigint,
    q: ArrayLike<number>,
    fractionBits: readonly number[],
    onChunk?: (done: number, total: number, timing: ChunkTiming) => void,
  ): Promise<ChunkProof[]> {
    const inputs = chunkInputs(statement, salt, q, fractionBits, this.params);
    const proofs: ChunkProof[] = new Array<ChunkProof>(inputs.length);
    const singleThread = inputs.length > 1 && this.members.length > 1;
    let next = 0;
    let done = 0;
    const work = async (member: ChunkProver): Promise<void> => {
      for (let k = next++; k < inputs.length; k = next++) {
        const { proof, ...timing } = await member.prove(inputs[k]!, singleThread);
        proofs[k] = proof;
        onChunk?.(++done, inputs.length, timing);
      }
    };
    await Promise.all(this.members.slice(0, inputs.length).map(work));
    return proofs;
  }
}
