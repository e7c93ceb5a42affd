import { expect } from 'chai';
import type { ChunkProver } from '../../circuits/chunk-prover.js';
import { circuitParams } from '../../circuits/params.js';
import { onOneThread, PooledProver } from '../../circuits/pooled-prover.js';
import type { UpdateStatement } from '../../circuits/statement.js';

const params = circuitParams.test;
const statement: UpdateStatement = {
  taskId: 't-pool',
  round: 1,
  address: '0x0000000000000000000000000000000000000001',
  modelHash: '00'.repeat(32),
  clipSquareX96: 1n << 96n,
};

/**
 * A member that answers each chunk with its statement signal after `ms`, counting how many it proves at once and
 * recording whether it was asked for one thread.
 */
function member(
  name: string,
  ms: number,
  busy: { now: number; most: number },
  proved: string[],
  threads: boolean[] = [],
): ChunkProver {
  return {
    async prove(input, singleThread) {
      threads.push(singleThread);
      busy.most = Math.max(busy.most, ++busy.now);
      await new Promise((resolve) => setTimeout(resolve, ms));
      busy.now--;
      proved.push(name);
      return { proof: { proof: {} as never, publicSignals: [String(input.statement)] }, witnessMs: 1, proveMs: ms };
    },
  };
}

describe('a pool of chunk provers', () => {
  const q = (chunks: number): number[] => new Array<number>(params.chunkSize * chunks).fill(0);

  it('proves chunks on every member at once and returns them in chunk order', async () => {
    const busy = { now: 0, most: 0 };
    const proved: string[] = [];
    const threads: boolean[] = [];
    const pool = new PooledProver(params, [
      member('a', 5, busy, proved, threads),
      member('b', 1, busy, proved, threads),
    ]);
    const progress: number[] = [];
    const proofs = await pool.prove(statement, 7n, q(5), [1, 2, 3, 4, 5], (done) => progress.push(done));
    const alone = await new PooledProver(params, [member('c', 0, { now: 0, most: 0 }, [])]).prove(
      statement,
      7n,
      q(5),
      [1, 2, 3, 4, 5],
    );
    expect(proofs.map((proof) => proof.publicSignals)).to.deep.equal(alone.map((proof) => proof.publicSignals));
    expect(busy.most).to.equal(2);
    expect(new Set(proved)).to.deep.equal(new Set(['a', 'b']));
    expect(progress).to.deep.equal([1, 2, 3, 4, 5]);
    // The last chunk to start has the cores the finished members left.
    expect(threads).to.deep.equal([true, true, true, true, false]);
  });

  it('decides one thread a chunk only while other chunks wait to start and another member can take them', () => {
    expect(onOneThread(2, 1)).to.equal(true);
    expect(onOneThread(2, 0)).to.equal(false);
    expect(onOneThread(1, 3)).to.equal(false);
  });

  it('gives a lone chunk, or a pool of one, every thread', async () => {
    const threads: boolean[] = [];
    const busy = { now: 0, most: 0 };
    const two = [member('a', 1, busy, [], threads), member('b', 1, busy, [], threads)];
    await new PooledProver(params, two).prove(statement, 7n, q(1), [3]);
    await new PooledProver(params, [member('c', 1, busy, [], threads)]).prove(statement, 7n, q(2), [3, 3]);
    expect(threads).to.deep.equal([false, false, false]);
  });

  it('uses no more members than there are chunks, and fails when a chunk cannot be proven', async () => {
    const proved: string[] = [];
    const busy = { now: 0, most: 0 };
    const failing: ChunkProver = { prove: () => Promise.reject(new Error('out of memory')) };
    await new PooledProver(params, [member('a', 1, busy, proved), failing]).prove(statement, 7n, q(1), [3]);
    expect(proved).to.deep.equal(['a']);
    const refused = await new PooledProver(params, [failing])
      .prove(statement, 7n, q(2), [3, 3])
      .catch((error: Error) => error.message);
    expect(refused).to.equal('out of memory');
  });
});
