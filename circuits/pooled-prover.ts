/**
 * Proves an update's chunks on a pool of chunk provers, each taking the next chunk as soon as it is free: a browser
 * contributor's Web Workers (web/workers/), one per core — as the Node client's prover processes do (prover.ts).
 * Several chunks are proven one per member, each on one thread (snarkjs spends much of a proof in single-threaded
 * JavaScript, so a member per core proves more per second); the last chunk to start, and so a lone one, gets
 * snarkjs's helper threads, which in Chromium prove a warm `default15` chunk about 30 % faster than one thread (the
 * first proof pays for starting them). For three chunks on two cores that took the page from 2.06 to 1.58 s a chunk
 * (README "Contribute from a browser"). Platform-neutral.
 */
import type { ChunkProver } from './chunk-prover.js';
import type { CircuitParams } from './params.js';
import { chunkInputs, type UpdateStatement } from './statement.js';
import type { ChunkProof, ChunkTiming, UpdateProver } from './update-prover.js';

/**
 * Whether a chunk starting now is proven on one thread, in a pool of `members` provers with `waiting` chunks still to
 * start after it: yes while they will keep the other members busy; the last chunk to start (or a pool of one) takes
 * snarkjs's helper threads, as the cores the finished members free would otherwise idle.
 */
export function onOneThread(members: number, waiting: number): boolean {
  return members > 1 && waiting > 0;
}

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
        const { proof, ...timing } = await member.prove(
          inputs[k]!,
          onOneThread(this.members.length, inputs.length - next),
        );
        proofs[k] = proof;
        onChunk?.(++done, inputs.length, timing);
      }
    };
    await Promise.all(this.members.slice(0, inputs.length).map(work));
    return proofs;
  }
}
