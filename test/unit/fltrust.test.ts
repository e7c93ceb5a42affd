import { expect } from 'chai';
import { trustedMean, trustedSum, trustOf } from '../../ml/fltrust.js';
import { aggregateStep, type WeightedUpdate } from '../../ml/replicas.js';
import { parseTaskSpec } from '../../protocol/task-spec.js';

const terms = (...rows: number[][]): Float64Array[] => rows.map((row) => Float64Array.from(row));
const norm = (values: ArrayLike<number>): number => Math.hypot(...Array.from(values));
const fltrust = { rule: 'fltrust' as const, trim: 0, byzantine: 0, krumSelect: 1 };

describe('FLTrust', () => {
  // The owner's root update points along x, at length 2.
  const root = [2, 0];

  it('trusts a term as ReLU(cos)^p: along the root fully, against or across it not at all', () => {
    const { rootNorm, weights } = trustOf(terms([5, 0], [-1, 0], [0, 3], [1, 1], [0, 0]), root, 2);
    expect(rootNorm).to.equal(2);
    expect(weights[0]).to.equal(1);
    expect(weights.slice(1, 3)).to.deep.equal([0, 0]);
    // cos 45° = 1/√2: squared, a half (the share of its energy along the root); the paper's p = 1 keeps 1/√2.
    expect(weights[3]).to.be.closeTo(0.5, 1e-12);
    expect(trustOf(terms([1, 1]), root, 1).weights[0]).to.be.closeTo(Math.SQRT1_2, 1e-12);
    expect(weights[4]).to.equal(0);
    expect(trustOf(terms([1, 1]), [0, 0], 2).weights).to.deep.equal([0]);
  });

  it('takes every term at the root length: a longer update gains no weight', () => {
    const honest = terms([1, 1], [1, -0.5]);
    const step = (attacker: number[]): Float64Array => {
      const all = [...honest, Float64Array.from(attacker)];
      return trustedMean(all, trustOf(all, root, 2), 2);
    };
    // An update 1,000 times longer moves the step exactly as the same direction at any length.
    expect([...step([1000, 1000])]).to.deep.equal([...step([1, 1])]);
    // Every term enters at length 2, so the step is no longer than the root update.
    expect(norm(step([1000, 1000]))).to.be.at.most(2 + 1e-12);
  });

  it('steps by Σ t·Δ̂ / Σ t, and not at all when nobody is trusted', () => {
    const all = terms([3, 0], [1, 1]);
    const trust = trustOf(all, root, 2);
    // t = 1 and 0.5; Δ̂ = (2, 0) and (√2, √2).
    const [x, y] = trustedMean(all, trust, 2);
    expect(x).to.be.closeTo((2 + 0.5 * Math.SQRT2) / 1.5, 1e-12);
    expect(y).to.be.closeTo((0.5 * Math.SQRT2) / 1.5, 1e-12);
    const against = terms([-1, 0], [0, -2]);
    expect([...trustedMean(against, trustOf(against, root, 2), 2)]).to.deep.equal([0, 0]);
  });

  it('caps a term at the clip in a private sum: one holder moves it by at most the clip', () => {
    const all = terms([1, 0], [1, 0.2]);
    const longRoot = [10, 0];
    const trust = trustOf(all, longRoot, 2);
    const without = trustedSum(all.slice(0, 1), { ...trust, weights: trust.weights.slice(0, 1) }, 2, 1);
    const withBoth = trustedSum(all, trust, 2, 1);
    // The second holder's share: t·Δ̂ at length min(‖g₀‖, clip) = 1, not ‖g₀‖ = 10.
    expect(norm(withBoth.map((value, i) => value - without[i]!))).to.be.at.most(1 + 1e-12);
  });

  it('combines replica groups once each, leaves out what the round left out, and needs the round trust', () => {
    const update = (values: number[]): WeightedUpdate => ({ q: values, fractionBits: [0], weight: 1 });
    const updates = [update([1, 0]), update([1, 0]), update([0, 5]), update([-3, 0])];
    // Updates 0 and 1 are one group; 3 is left out: the terms are (1, 0) and (0, 5).
    const groups = [[0, 1], [2], [3]];
    const trust = trustOf(terms([1, 0], [0, 5], [-3, 0]), root, 2);
    const step = aggregateStep(updates, groups, new Set([3]), 8, 2, fltrust, trust);
    const kept = { rootNorm: trust.rootNorm, weights: trust.weights.slice(0, 2) };
    expect([...step]).to.deep.equal([...trustedMean(terms([1, 0], [0, 5]), kept, 2)]);
    expect(() => aggregateStep(updates, groups, new Set([3]), 8, 2, fltrust)).to.throw(/trust/);
  });
});

describe('FLTrust task specs', () => {
  const spec = {
    model: { preset: 'mlp' },
    rounds: 2,
    clientsPerRound: { min: 2, target: 4 },
    evaluation: { path: '/data/test' },
  };

  it("takes cos² by default, and runs in a private task: a term's weight depends on no other update", () => {
    expect(parseTaskSpec({ ...spec, aggregation: { rule: 'fltrust' } }).aggregation.trustExponent).to.equal(2);
    const privacy = { delta: 1e-5, noiseMultiplier: 1, population: 100 };
    const aggregation = { rule: 'fltrust', replicaDistance: 0, contributorsOnly: false };
    expect(parseTaskSpec({ ...spec, aggregation, privacy }).aggregation.rule).to.equal('fltrust');
  });
});
