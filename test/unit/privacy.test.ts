import { expect } from 'chai';
import type { ZkflError } from '../../common/errors.js';
import {
  defaultOrders,
  epsilonAfter,
  epsilonOf,
  logErfc,
  maxNoiseMultiplier,
  noiseMultiplierFor,
  noiseMultiplierOf,
  plannedEpsilon,
  rdpOf,
  roundPrivacy,
  sampledGaussianRdp,
} from '../../protocol/privacy.js';
import { parseTaskSpec } from '../../protocol/task-spec.js';
import { specRefusal } from '../helpers/spec.js';
import { gaussianNoise, privateStep } from '../../ml/private-step.js';
import { RunningSum } from '../../ml/aggregation.js';

/** The conversion RDP → (ε, δ) TF Privacy and Opacus used before 2021: min over α of rdp − log δ / (α − 1). */
function classicEpsilon(rdp: number[], delta: number, orders: readonly number[]): number {
  return Math.min(...orders.map((order, k) => rdp[k]! - Math.log(delta) / (order - 1)));
}

/** DP-SGD on MNIST as TF Privacy's tutorials ran it: 60,000 examples, batches of 256. */
function mnistRdp(noiseMultiplier: number, epochs: number): number[] {
  const steps = Math.floor((epochs * 60_000) / 256);
  return rdpOf([{ q: 256 / 60_000, noiseMultiplier }]).map((rdp) => rdp * steps);
}

const privateSpec = {
  model: { preset: 'mlp' },
  rounds: 10,
  clientsPerRound: { min: 2, target: 10 },
  evaluation: { path: '/data/test' },
  aggregation: { replicaDistance: 0, contributorsOnly: false },
  privacy: { delta: 1e-5, targetEpsilon: 3, population: 1000 },
};

const refusal = (change: Record<string, unknown>): ZkflError => specRefusal({ ...privateSpec, ...change });

describe('privacy accountant (RDP of the sampled Gaussian mechanism)', () => {
  it('computes log erfc to double precision, far into the tail', () => {
    const known: Array<[number, number]> = [
      [0.5, 0.4795001221869535],
      [1, 0.15729920705028513],
      [2, 0.004677734981047266],
      [5, 1.5374597944280349e-12],
      [-1, 1.8427007929497148],
    ];
    for (const [x, erfc] of known) expect(Math.exp(logErfc(x))).to.be.closeTo(erfc, erfc * 1e-13);
    // erfc(30) ≈ 2.6e-393 underflows a double; its log does not.
    expect(logErfc(30)).to.be.closeTo(-900 - Math.log(30 * Math.sqrt(Math.PI)) - 1 / 1800, 1e-6);
  });

  it("matches TF Privacy's tutorial figures: σ 1.1 for 60 epochs is ε 3.01, σ 0.7 for 45 epochs is ε 7.10 (δ 1e-5)", () => {
    expect(classicEpsilon(mnistRdp(1.1, 60), 1e-5, defaultOrders)).to.be.closeTo(3.01, 0.005);
    expect(classicEpsilon(mnistRdp(0.7, 45), 1e-5, defaultOrders)).to.be.closeTo(7.1, 0.005);
  });

  it("matches Opacus's documented figure: sample rate 1 %, σ 1.0, 300 steps, orders 2–100 is ε 2.39 at order 5", () => {
    // With the conversion the accountant uses (Canonne, Kamath and Steinke).
    const few = [2, 5, 10, 20, 100];
    const rdp = rdpOf(Array(300).fill({ q: 0.01, noiseMultiplier: 1 }), few);
    const { epsilon, order } = epsilonOf(rdp, 1e-5, few);
    expect(epsilon).to.be.closeTo(2.39, 0.005);
    expect(order).to.equal(5);
  });

  it('is the plain Gaussian mechanism without sampling, and spends nothing when nobody is sampled', () => {
    expect(sampledGaussianRdp({ q: 1, noiseMultiplier: 2 }, 8)).to.equal(8 / (2 * 4));
    expect(sampledGaussianRdp({ q: 0, noiseMultiplier: 2 }, 8)).to.equal(0);
    // Fractional and integer orders agree where they meet.
    const step = { q: 0.05, noiseMultiplier: 1.1 };
    expect(sampledGaussianRdp(step, 3.0000001)).to.be.closeTo(sampledGaussianRdp(step, 3), 1e-6);
  });

  it('spends more with more rounds, more sampling or less noise', () => {
    const step = { q: 0.01, noiseMultiplier: 1 };
    const base = epsilonAfter(Array(100).fill(step), 1e-5);
    expect(epsilonAfter(Array(200).fill(step), 1e-5)).to.be.greaterThan(base);
    expect(epsilonAfter(Array(100).fill({ ...step, q: 0.02 }), 1e-5)).to.be.greaterThan(base);
    expect(epsilonAfter(Array(100).fill({ ...step, noiseMultiplier: 0.8 }), 1e-5)).to.be.greaterThan(base);
    expect(epsilonAfter([], 1e-5)).to.equal(0);
  });

  it('calibrates σ to a budget: the least σ (to 0.1 %) whose rounds spend at most ε', () => {
    const sigma = noiseMultiplierFor(3, 1e-5, 0.01, 300);
    expect(epsilonAfter(Array(300).fill({ q: 0.01, noiseMultiplier: sigma }), 1e-5)).to.be.at.most(3);
    expect(epsilonAfter(Array(300).fill({ q: 0.01, noiseMultiplier: sigma * 0.99 }), 1e-5)).to.be.greaterThan(3);
  });

  it('refuses, with a code, a budget no σ up to the largest reaches (the conversion leaves a floor under ε)', () => {
    let refused: ZkflError | undefined;
    try {
      noiseMultiplierFor(0.001, 1e-5, 0.01, 10);
    } catch (error) {
      refused = error as ZkflError;
    }
    expect(refused).to.include({ code: 'VALIDATION_FAILED', field: 'privacy.targetEpsilon' });
    expect(noiseMultiplierFor(0.05, 1e-5, 0.01, 10)).to.be.at.most(maxNoiseMultiplier);
  });

  it("accounts a task's rounds from the spec: the planned ε is its budget, and a round that samples more spends more", () => {
    const spec = parseTaskSpec(privateSpec);
    expect(plannedEpsilon(spec)).to.be.at.most(3);
    expect(plannedEpsilon(spec)).to.be.greaterThan(2.9);
    const planned = roundPrivacy(spec, [], 10, 1000);
    const crowded = roundPrivacy(spec, [], 10, 20);
    expect(planned.q).to.equal(0.01);
    expect(planned.noiseMultiplier).to.equal(noiseMultiplierOf(spec));
    expect(crowded.epsilon).to.be.greaterThan(planned.epsilon);
    expect(roundPrivacy(spec, [], 30, 20).q).to.equal(1);
  });
});

describe('private task specs', () => {
  it('takes a private task that aggregates every update alone and publishes none', () => {
    expect(parseTaskSpec(privateSpec).privacy).to.deep.equal(privateSpec.privacy);
  });

  it('refuses δ ≥ 1/population, ε ≤ 0, σ = 0, and a spec that names neither σ nor ε', () => {
    const privacy = privateSpec.privacy;
    for (const [change, field] of [
      [{ ...privacy, delta: 1e-3 }, 'privacy.delta'],
      [{ ...privacy, targetEpsilon: 0 }, 'privacy.targetEpsilon'],
      [{ ...privacy, targetEpsilon: -1 }, 'privacy.targetEpsilon'],
      [{ ...privacy, noiseMultiplier: 0 }, 'privacy.noiseMultiplier'],
      [{ delta: 1e-5, population: 1000 }, 'privacy'],
    ] as const) {
      const error = refusal({ privacy: change });
      expect(error.code).to.equal('VALIDATION_FAILED');
      expect(error.field).to.equal(field);
    }
  });

  it('takes only contributors, each update judged alone: a test of one update cannot move the sum by more than the clip', () => {
    const spec = parseTaskSpec({ ...privateSpec, aggregation: { replicaDistance: 0, leaveOutByScore: false } });
    expect(spec.aggregation).to.include({ contributorsOnly: true, leaveOutNoise: true, replayDistance: 0.25 });
  });

  it('refuses what would break the sensitivity bound: declared counts, replicas, leaving out by score, published updates', () => {
    const aggregation = privateSpec.aggregation;
    for (const [change, field] of [
      [{ aggregation: { ...aggregation, weights: 'samples' } }, 'aggregation.weights'],
      [{ aggregation: { ...aggregation, replicaDistance: 0.25 } }, 'aggregation.replicaDistance'],
      [{ aggregation: { replicaDistance: 0 } }, 'aggregation.leaveOutByScore'],
      [{ publicAudit: true }, 'publicAudit'],
      [{ privacy: { ...privateSpec.privacy, population: 5 } }, 'privacy.population'],
    ] as const) {
      const error = refusal(change);
      expect(error.code).to.equal('VALIDATION_FAILED');
      expect(error.field).to.equal(field);
    }
  });
});

describe('DP-FedAvg step', () => {
  it('draws independent N(0, std²) noise from the secure generator', () => {
    const noise = gaussianNoise(100_001, 2);
    const mean = noise.reduce((sum, x) => sum + x, 0) / noise.length;
    const variance = noise.reduce((sum, x) => sum + (x - mean) ** 2, 0) / noise.length;
    // 100,001 draws: the mean is within 5 standard errors (0.03), the variance within 2 %.
    expect(mean).to.be.closeTo(0, 0.03);
    expect(variance).to.be.closeTo(4, 0.08);
    expect(gaussianNoise(7, 1)).to.not.deep.equal(gaussianNoise(7, 1));
  });

  it('divides the noisy sum by the expected count, whoever took part', () => {
    const sum = RunningSum.empty(50_000);
    sum.add(new Int8Array(50_000).fill(4), 1, [2], 50_000);
    sum.add(new Int8Array(50_000).fill(4), 1, [2], 50_000);
    // Two updates of 1 in every coordinate over an expected 4: a mean step of 0.5; noise σ·clip/4 = 0.25.
    const step = privateStep(sum.sum, 0.5, 2, 4);
    const mean = step.reduce((total, x) => total + x, 0) / step.length;
    const std = Math.sqrt(step.reduce((total, x) => total + (x - mean) ** 2, 0) / step.length);
    expect(mean).to.be.closeTo(0.5, 0.01);
    expect(std).to.be.closeTo(0.25, 0.01);
  });
});
