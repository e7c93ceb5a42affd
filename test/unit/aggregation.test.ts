import { expect } from 'chai';
import { createStrategy, initialStrategyState, RunningSum } from '../../ml/aggregation.js';
import { aggregationSchema } from '../../protocol/task-spec.js';

const config = (overrides: object) => aggregationSchema.parse(overrides);

describe('aggregation', () => {
  it('FedAvg weights each update by its sample count', () => {
    const sum = RunningSum.empty(3);
    sum.add(Int8Array.of(1, 2, 3), 10, [0], 3);
    sum.add(Int8Array.of(4, -2, 0), 30, [0], 3);
    expect(Array.from(sum.mean())).to.deep.equal([(10 * 1 + 30 * 4) / 40, (10 * 2 - 30 * 2) / 40, (10 * 3) / 40]);
    const next = createStrategy(config({})).apply(Float32Array.of(1, 1, 1), sum.mean(), []);
    expect(Array.from(next)).to.deep.equal([1 + 3.25, 1 - 1, 1 + 0.75]);
  });

  it('keeps one model-sized sum however many updates arrive', () => {
    const sum = RunningSum.empty(4);
    for (let k = 0; k < 1000; k++) sum.add(Int16Array.of(k, 2, -2, 1), 1, [0, 1], 2);
    expect(sum.sum.length).to.equal(4);
    expect(sum.count).to.equal(1000);
    expect(Array.from(sum.mean())).to.deep.equal([499.5, 2, -1, 0.5]);
  });

  it('dequantizes each chunk at its own scale', () => {
    const sum = RunningSum.empty(5);
    // Chunks of 2: values q·2^−f with f = 1, 3, 0 for the three chunks (the last one short).
    sum.add(Int8Array.of(4, -2, 8, 16, 7), 1, [1, 3, 0], 2);
    expect(Array.from(sum.mean())).to.deep.equal([2, -1, 1, 2, 7]);
    expect(() => sum.add(Int8Array.of(1, 1, 1, 1, 1), 1, [0, 0], 2)).to.throw(/2 scales for 3 chunks/);
  });

  it('refuses an update of the wrong size and an empty mean', () => {
    expect(() => RunningSum.empty(3).add(Int8Array.of(1), 1, [0], 3)).to.throw(/expected 3/);
    expect(() => RunningSum.empty(3).mean()).to.throw(/no updates/);
  });

  it('FedAvgM accumulates server momentum across rounds', () => {
    const strategy = createStrategy(config({ strategy: 'fedavgm', serverMomentum: 0.5 }));
    const state = initialStrategyState(strategy, 1);
    const w1 = strategy.apply(Float32Array.of(0), Float64Array.of(1), state);
    const w2 = strategy.apply(w1, Float64Array.of(1), state);
    expect(Array.from(w1)).to.deep.equal([1]);
    expect(Array.from(w2)).to.deep.equal([1 + 1.5]);
  });

  it('FedAdam takes normalised steps of about the server learning rate', () => {
    const strategy = createStrategy(
      config({ strategy: 'fedadam', serverLearningRate: 0.1, beta1: 0, beta2: 0, epsilon: 1e-9 }),
    );
    const state = initialStrategyState(strategy, 2);
    const next = strategy.apply(Float32Array.of(0, 0), Float64Array.of(5, -0.001), state);
    expect(next[0]).to.be.closeTo(0.1, 1e-6);
    expect(next[1]).to.be.closeTo(-0.1, 1e-6);
  });
});
