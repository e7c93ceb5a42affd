/**
 * The privacy accountant of user-level DP-FedAvg (McMahan et al., "Learning Differentially Private Recurrent Language
 * Models", ICLR 2018): each round is one Sampled Gaussian Mechanism (SGM) — holders sampled with probability q, each
 * update's L2 norm bounded by the clip S, Gaussian noise of standard deviation σ·S added to their sum — and rounds
 * compose in Rényi DP (Mironov, "Rényi Differential Privacy", CSF 2017).
 *
 * A round's RDP at order α is log(A_α)/(α−1), with A_α as in Mironov, Talwar and Zhang, "Rényi Differential Privacy
 * of the Sampled Gaussian Mechanism" (2019): a finite binomial sum for integer α, and for fractional α the two
 * convergent series of their Section 3.3. RDP adds up over rounds; (ε, δ) follows from the best order by the
 * conversion of Canonne, Kamath and Steinke ("The Discrete Gaussian for Differential Privacy", 2020, Prop. 12):
 * ε = rdp + log((α−1)/α) − (log δ + log α)/(α−1). TF Privacy's dp_accounting and Opacus compute the same, and the unit
 * tests hold this twin to their published figures.
 *
 * The analysis is that of Poisson sampling at rate q. A round samples a fixed number of the holders connected to it
 * (without replacement), and its q is that number over the holders it sampled from: the approximation TensorFlow
 * Federated makes too.
 *
 * Platform-neutral: the coordinator, `zkfl verify` and the terms all account with this one module.
 */
import { ZkflError } from '../common/errors.js';
import type { TaskSpec } from './task-spec.js';

/** The orders the accountant tries: Opacus's defaults, and TF Privacy's large ones. */
export const defaultOrders: readonly number[] = [
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 52 }, (_, x) => 12 + x),
  128,
  256,
  512,
];

/** One round as the accountant sees it: its sampling rate and its noise multiplier σ. */
export interface PrivacyStep {
  q: number;
  noiseMultiplier: number;
}

/** The RDP at each of `orders` of `steps` composed. */
export function rdpOf(steps: readonly PrivacyStep[], orders: readonly number[] = defaultOrders): number[] {
  // Rounds mostly repeat the same (q, σ): each distinct one is computed once.
  const counts = new Map<string, { step: PrivacyStep; count: number }>();
  for (const step of steps) {
    const key = `${step.q}/${step.noiseMultiplier}`;
    const seen = counts.get(key);
    if (seen) seen.count++;
    else counts.set(key, { step, count: 1 });
  }
  return orders.map((order) =>
    [...counts.values()].reduce((sum, { step, count }) => sum + count * sampledGaussianRdp(step, order), 0),
  );
}

/** The least ε that the RDP curve `rdp` (at `orders`) guarantees at δ, and the order that gives it. */
export function epsilonOf(
  rdp: readonly number[],
  delta: number,
  orders: readonly number[] = defaultOrders,
): { epsilon: number; order: number } {
  let best = { epsilon: Infinity, order: NaN };
  orders.forEach((order, k) => {
    const epsilon = rdp[k]! + Math.log1p(-1 / order) - (Math.log(delta) + Math.log(order)) / (order - 1);
    if (epsilon < best.epsilon) best = { epsilon: Math.max(0, epsilon), order };
  });
  return best;
}

/** ε after `steps` at δ. */
export function epsilonAfter(steps: readonly PrivacyStep[], delta: number, orders = defaultOrders): number {
  return steps.length === 0 ? 0 : epsilonOf(rdpOf(steps, orders), delta, orders).epsilon;
}

/** The largest σ a task may have (spec.privacy.noiseMultiplier's bound), and so the most calibration tries. */
export const maxNoiseMultiplier = 1000;

/**
 * The least noise multiplier (to 0.1 %) for which `rounds` rounds at sampling rate q spend at most `epsilon` at δ:
 * how a task that names its budget rather than σ is calibrated. However large σ is, the conversion to (ε, δ) leaves a
 * floor under ε (about 0.008 at δ 1e-5): a budget below what σ = maxNoiseMultiplier spends is refused, with a code,
 * rather than searched for without end.
 */
export function noiseMultiplierFor(epsilon: number, delta: number, q: number, rounds: number): number {
  const spent = (sigma: number): number => epsilonAfter(Array(rounds).fill({ q, noiseMultiplier: sigma }), delta);
  if (spent(maxNoiseMultiplier) > epsilon) {
    const message = `ε ${epsilon} cannot be reached at δ ${delta} over ${rounds} rounds, even with σ ${maxNoiseMultiplier}`;
    throw new ZkflError('VALIDATION_FAILED', message, 'privacy.targetEpsilon');
  }
  let high = 1;
  while (spent(high) > epsilon) high *= 2;
  high = Math.min(high, maxNoiseMultiplier);
  let low = high / 2;
  if (spent(low) <= epsilon) low = 0;
  while (high - low > high * 1e-3) {
    const middle = (low + high) / 2;
    if (spent(middle) > epsilon) low = middle;
    else high = middle;
  }
  return high;
}

/** One SGM round's RDP at `order`. */
export function sampledGaussianRdp({ q, noiseMultiplier: sigma }: PrivacyStep, order: number): number {
  if (q === 0) return 0;
  if (q === 1) return order / (2 * sigma * sigma);
  const logA = Number.isInteger(order) ? logAInteger(q, sigma, order) : logAFractional(q, sigma, order);
  // RDP is never negative; rounding leaves −1e-17 or so where σ is very large.
  return Math.max(0, logA / (order - 1));
}

/** log A_α for integer α: log Σ_k C(α,k) (1−q)^(α−k) q^k exp((k²−k)/(2σ²)). */
function logAInteger(q: number, sigma: number, order: number): number {
  let logA = -Infinity;
  for (let k = 0; k <= order; k++) {
    const term =
      logBinomial(order, k) + k * Math.log(q) + (order - k) * Math.log1p(-q) + (k * k - k) / (2 * sigma ** 2);
    logA = logAdd(logA, term);
  }
  return logA;
}

/** log A_α for fractional α: the two series of Mironov, Talwar and Zhang (2019), Section 3.3, summed until they fade. */
function logAFractional(q: number, sigma: number, order: number): number {
  const positive = [-Infinity, -Infinity];
  const negative = [-Infinity, -Infinity];
  const z0 = sigma ** 2 * Math.log(1 / q - 1) + 0.5;
  // C(α, i) = Π_{m<i} (α−m)/(m+1), kept as its log and sign from one i to the next.
  let logCoefficient = 0;
  let sign = 1;
  for (let i = 0; ; i++) {
    if (i > 0) {
      const factor = (order - i + 1) / i;
      if (factor < 0) sign = -sign;
      logCoefficient += Math.log(Math.abs(factor));
    }
    const j = order - i;
    const logT0 = logCoefficient + i * Math.log(q) + j * Math.log1p(-q);
    const logT1 = logCoefficient + j * Math.log(q) + i * Math.log1p(-q);
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma ** 2) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma ** 2) + logE1;
    const sums = sign > 0 ? positive : negative;
    sums[0] = logAdd(sums[0]!, logS0);
    sums[1] = logAdd(sums[1]!, logS1);
    if (Math.max(logS0, logS1) < -30) break;
  }
  return logAdd(logSub(positive[0]!, negative[0]!), logSub(positive[1]!, negative[1]!));
}

function logAdd(a: number, b: number): number {
  const high = Math.max(a, b);
  if (high === -Infinity) return -Infinity;
  return high + Math.log1p(Math.exp(Math.min(a, b) - high));
}

/** log(e^a − e^b), for a ≥ b. */
function logSub(a: number, b: number): number {
  if (b === -Infinity) return a;
  if (b > a) throw new Error('the accountant lost precision (log of a negative number)');
  if (a === b) return -Infinity;
  return a + Math.log(-Math.expm1(b - a));
}

function logBinomial(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/** log Γ(x) for x > 0 (Lanczos, g = 7, nine coefficients: relative error below 1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const y = x - 1;
  let sum = c[0]!;
  for (let k = 1; k < 9; k++) sum += c[k]! / (y + k);
  const t = y + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(sum);
}

/**
 * log erfc(x), accurate where erfc underflows: for x ≥ 2 from its continued fraction, erfc(x) =
 * e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))); below, from erf's Taylor series.
 */
export function logErfc(x: number): number {
  if (x >= 2) return -x * x - 0.5 * Math.log(Math.PI) - Math.log(continuedFraction(x));
  return Math.log(1 - erfSeries(x));
}

/** x + (1/2)/(x + 1/(x + (3/2)/(x + …))), evaluated from the tail (200 levels: converged for x ≥ 2). */
function continuedFraction(x: number): number {
  let tail = x;
  for (let k = 200; k >= 1; k--) tail = x + k / 2 / tail;
  return tail;
}

/** erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1)), for |x| < 2 (for x ≤ −2, erf is −1 to double precision). */
function erfSeries(x: number): number {
  if (x <= -2) return -1 + Math.exp(logErfc(-x));
  let term = x;
  let sum = x;
  for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** What a private round's record says of its privacy (RoundRecord.privacy). */
export interface RoundPrivacy {
  /** Holders the round sent its model to (each once), and the holders it could have sampled: connected to the task. */
  sampled: number;
  eligible: number;
  /** The round's sampling rate, sampled/eligible (at most 1), and its noise multiplier σ. */
  q: number;
  noiseMultiplier: number;
  /** ε the task spent up to and including this round, at its δ. */
  epsilon: number;
}

/** σ of a private task: named in its spec, or calibrated to spend `targetEpsilon` over its rounds at the planned q. */
export function noiseMultiplierOf(spec: Pick<TaskSpec, 'privacy' | 'rounds' | 'clientsPerRound'>): number {
  const privacy = spec.privacy!;
  if (privacy.noiseMultiplier !== undefined) return privacy.noiseMultiplier;
  const key = JSON.stringify([privacy.targetEpsilon, privacy.delta, plannedRate(spec), spec.rounds]);
  let sigma = calibrated.get(key);
  if (sigma === undefined) {
    sigma = noiseMultiplierFor(privacy.targetEpsilon!, privacy.delta, plannedRate(spec), spec.rounds);
    if (calibrated.size >= 1000) calibrated.clear();
    calibrated.set(key, sigma);
  }
  return sigma;
}

/** Calibrations done, by budget, δ, rate and rounds: every round of a task asks again. */
const calibrated = new Map<string, number>();

/** The sampling rate the owner plans for: clientsPerRound.target of the expected population. */
export function plannedRate(spec: Pick<TaskSpec, 'privacy' | 'clientsPerRound'>): number {
  return Math.min(1, spec.clientsPerRound.target / spec.privacy!.population);
}

/** The ε every round of the task spends at the planned sampling rate: what the terms promise. */
export function plannedEpsilon(spec: Pick<TaskSpec, 'privacy' | 'rounds' | 'clientsPerRound'>): number {
  const step = { q: plannedRate(spec), noiseMultiplier: noiseMultiplierOf(spec) };
  return epsilonAfter(Array<PrivacyStep>(spec.rounds).fill(step), spec.privacy!.delta);
}

/** A round's q: the holders it sampled over those it could have sampled, at most 1. */
export function samplingRate(sampled: number, eligible: number): number {
  return Math.min(1, sampled / Math.max(1, eligible));
}

/** A round's privacy, given the rounds before it (their records' privacy) and whom it sampled from. */
export function roundPrivacy(
  spec: Pick<TaskSpec, 'privacy' | 'rounds' | 'clientsPerRound'>,
  before: readonly PrivacyStep[],
  sampled: number,
  eligible: number,
): RoundPrivacy {
  const step = { q: samplingRate(sampled, eligible), noiseMultiplier: noiseMultiplierOf(spec) };
  return { sampled, eligible, ...step, epsilon: epsilonAfter([...before, step], spec.privacy!.delta) };
}
