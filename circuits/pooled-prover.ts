/**
 * Proves an update's chunks on a pool of chunk provers, each taking the next chunk as soon as it is free: a browser
 * contributor's Web Workers (web/workers/), one per core, each proving on one thread — as the Node client's prover
 * processes do (prover.ts). One thread per proof: in Chromium, snarkjs's own helper Web Workers made a `default15`
 * chunk slower in the contributor page, 4.7 s against 3.6 s on one thread (2 cores, timed in the page; the page's
 * proving time against Node's: benchmarks/results/browser.md). Platform-neutral.
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
    let next = 0;
    let done = 0;
    const work = async (member: ChunkProver): Promise<void> => {
      for (let k = next++; k < inputs.length; k = next++) {
        const { proof, ...timing } = await member.prove(inputs[k]!, true);
        proofs[k] = proof;
        onChunk?.(++done, inputs.length, timing);
      }
    };
    await Promise.all(this.members.slice(0, inputs.length).map(work));
    return proofs;
  }
}
