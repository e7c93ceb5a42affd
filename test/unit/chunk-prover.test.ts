import { expect } from 'chai';
import { proverCurve } from '../../circuits/chunk-prover.js';

describe('the chunk prover’s curves (circuits/chunk-prover.ts)', () => {
  after(async () => {
    await (await proverCurve(true)).terminate();
    await (await proverCurve(false)).terminate();
  });

  it('builds a curve with helper threads even after one on one thread was put in snarkjs’s place', async () => {
    const single = await proverCurve(true);
    (globalThis as { curve_bn128?: unknown }).curve_bn128 = single;
    const threaded = await proverCurve(false);
    expect(single.tm.singleThread).to.equal(true);
    expect(threaded).to.not.equal(single);
    expect(threaded.tm.singleThread).to.equal(false);
    expect(await proverCurve(false)).to.equal(threaded);
  });
});
