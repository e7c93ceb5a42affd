import { expect } from 'chai';
import { robustCombine } from '../../ml/robust.js';
import { aggregateStep, type WeightedUpdate } from '../../ml/replicas.js';
import { parseTaskSpec } from '../../protocol/task-spec.js';
import { specRefusal } from '../helpers/spec.js';
import type { ZkflError } from '../../common/errors.js';

const rule = (name: 'median' | 'trimmedMean' | 'krum', extra = {}) => ({
  rule: name,
  trim: 0.2,
  byzantine: 1,
  krumSelect: 1,
  ...extra,
});
const terms = (...rows: number[][]): Float64Array[] => rows.map((row) => Float64Array.from(row));
// Four honest terms near (1, 1) and a poisoner at (−50, 40).
const poisoned = terms([1, 1], [1.2, 0.8], [0.9, 1.1], [1.1, 1], [-50, 40]);

describe('robust aggregation rules', () => {
  it('median: each coordinate its middle value, whatever one term holds', () => {
    expect([...robustCombine(poisoned, rule('median'), 2)]).to.deep.equal([1, 1]);
    expect([...robustCombine(terms([1], [2], [3], [100]), rule('median'), 1)]).to.deep.equal([2.5]);
  });

  it('trimmed mean: drops ⌊β·n⌋ values at each end of each coordinate, then averages', () => {
    // β 0.2 of 5: one at each end. Coordinate 0 keeps 0.9, 1, 1.1; coordinate 1 keeps 1, 1, 1.1.
    const [x, y] = robustCombine(poisoned, rule('trimmedMean'), 2);
    expect(x).to.be.closeTo(1, 1e-12);
    expect(y).to.be.closeTo(3.1 / 3, 1e-12);
    // β 0 is the mean, poisoner included.
    expect(robustCombine(poisoned, rule('trimmedMean', { trim: 0 }), 2)[0]).to.be.closeTo(-45.8 / 5, 1e-12);
  });

  it('Krum: the term closest to its n − f − 2 neighbours; multi-Krum averages the best m', () => {
    // Squared distances to the two nearest: (1, 1) 0.03, (1.1, 1) 0.06, (0.9, 1.1) 0.07, (1.2, 0.8) 0.13, the poisoner's ≫.
    expect([...robustCombine(poisoned, rule('krum'), 2)]).to.deep.equal([1, 1]);
    const [x] = robustCombine(poisoned, rule('krum', { krumSelect: 4 }), 2);
    expect(x).to.be.closeTo((1 + 1.2 + 0.9 + 1.1) / 4, 1e-12);
    // Ties go to the earlier term.
    expect([...robustCombine(terms([0], [2], [0], [2]), rule('krum'), 1)]).to.deep.equal([0]);
  });

  it('combines replica groups once each, and leaves out what the round left out', () => {
    const update = (values: number[]): WeightedUpdate => ({ q: values, fractionBits: [0], weight: 1 });
    const updates = [update([1]), update([1]), update([3]), update([100]), update([2])];
    // Updates 0 and 1 are one group; 3 is left out: the median of 1, 3 and 2.
    const step = aggregateStep(updates, [[0, 1], [2], [3], [4]], new Set([3]), 8, 1, rule('median'));
    expect([...step]).to.deep.equal([2]);
    expect([
      ...aggregateStep(updates, [[0, 1], [2], [3], [4]], new Set([3]), 8, 1, rule('median', { rule: 'mean' })),
    ]).to.deep.equal([2]);
  });
});

describe('robust task specs', () => {
  const spec = {
    model: { preset: 'mlp' },
    rounds: 2,
    clientsPerRound: { min: 2, target: 4 },
    evaluation: { path: '/data/test' },
  };
  const refusal = (change: Record<string, unknown>): ZkflError => specRefusal({ ...spec, ...change });

  it('takes a robust rule with its defaults', () => {
    expect(parseTaskSpec({ ...spec, aggregation: { rule: 'krum' } }).aggregation).to.include({
      rule: 'krum',
      byzantine: 1,
      krumSelect: 1,
    });
  });

  it('refuses a robust rule weighing declared counts, a trim of half or more, and a robust private task', () => {
    expect(refusal({ aggregation: { rule: 'median', weights: 'samples' } }).field).to.equal('aggregation.weights');
    expect(refusal({ aggregation: { rule: 'trimmedMean', trim: 0.5 } }).field).to.equal('aggregation.trim');
    const privacy = { delta: 1e-5, noiseMultiplier: 1, population: 100 };
    const aggregation = { rule: 'median', replicaDistance: 0, contributorsOnly: false };
    expect(refusal({ aggregation, privacy }).field).to.equal('aggregation.rule');
  });
});
