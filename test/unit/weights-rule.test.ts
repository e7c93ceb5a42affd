import { expect } from 'chai';
import { maxSamples, updateWeight } from '../../protocol/weights-rule.js';
import { parseTaskSpec } from '../../protocol/task-spec.js';
import type { AggregationConfig } from '../../protocol/task-spec.js';

describe('what an update weighs (protocol/weights-rule.ts)', () => {
  it('weighs every update alike by default, whatever it declares', () => {
    const { aggregation } = parseTaskSpec({
      model: { preset: 'mlp', hidden: [] },
      inputShape: [4],
      classes: 2,
      rounds: 1,
      clientsPerRound: { min: 1, target: 1 },
      evaluation: { path: 'eval.csv' },
    });
    expect([updateWeight(aggregation, 1), updateWeight(aggregation, maxSamples)]).to.deep.equal([1, 1]);
  });

  it('weighs by the declared count only under samples, capped', () => {
    expect(updateWeight({ weights: 'samples' }, 300)).to.equal(300);
    expect(updateWeight({ weights: 'samples', samplesCap: 100 }, 300)).to.equal(100);
  });

  it('keeps weighing a task stored before the rule by its declared count, so its audit still recomputes', () => {
    const stored = {} as Pick<AggregationConfig, 'weights' | 'samplesCap'>;
    expect(updateWeight(stored, 300)).to.equal(300);
  });
});
