/**
 * `npm run bench:economics`: what attacks on the pay earn, with the scoring, reward rule and aggregation the
 * coordinator runs (ml/scoring.ts, protocol/reward-rule.ts, protocol/weights-rule.ts) on real local training of the
 * demo's CNN on Fashion-MNIST shards. Proofs are left out: they make an update well-formed, and every update here
 * is (clipped and quantized as the client does). Seeded: the same run gives the same table. Writes
 * results/economics.md.
 *
 * Four holders; the attacker is holder 4 (its own shard), the others are honest. Each scenario runs the same rounds
 * from the same initial model and compares every key's pay with the honest baseline (holder 4 on one key):
 * - copies: holder 4's update sent unchanged under k keys;
 * - near-copies: the update plus small independent noise per key, or holder 4's data trained under k keys;
 * - decorrelated copies: noise as large as the update (what the replica rule does not catch, and what it costs);
 * - a declared sample count of 2^20;
 * - no attack: holder 4's own update under another key, its training's randomness drawn afresh (how far a holder's
 *   luck alone moves the others' pay);
 * - free riders beside the four holders (a zero update, a replay of the last global step, noise at the norm
 *   bound), once with label-skewed holders and once with IID holders of which one sees only two classes; under
 *   the default rule, with every update aggregated (`contributorsOnly: false`), and with a private task's rule
 *   (no replicas, each update judged alone: `leaveOutByScore: false`; no DP noise, which would only blur the pay).
 *   Each scenario is compared with holder 4 alone under the same rule.
 *
 * Every row is paid twice from the same scores: by value summed over the task (the default, `rewards.valueOver:
 * 'task'`), and by each round's scores alone (`'round'`, the last three columns); the models are the same.
 *
 * `-- --rule fltrust` runs the same scenarios with `aggregation.rule: fltrust` (ml/fltrust.ts: scores in FLTrust's
 * game, the owner's scoring set as the root) and writes results/economics-fltrust.md. `-- --seed N` runs them from
 * another seed (shards, initial model, noise, scoring) and writes results/economics-seedN.md. `-- --keep-noise` leaves
 * noise to the game (`aggregation.leaveOutNoise: false`, as tasks before that rule) and writes
 * results/economics-keep-noise[-seedN].md.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Wallet } from 'ethers';
import { circuitFor } from '../circuits/params.js';
import { dequantize, quantizationFor, quantizeUpdate } from '../circuits/codec.js';
import { Random } from '../common/random.js';
import { defaultFashionMnistDir, fashionMnist } from '../demo/fashion-mnist.js';
import { demoTask } from '../demo/demo.js';
import { initBackend } from '../ml/backend.js';
import { type Dataset, head, loadDataset, subset } from '../ml/dataset.js';
import { buildModel } from '../ml/models.js';
import { dirichletPartition } from '../ml/partition.js';
import { defaultScoringOptions, type ScoredRoundUpdates, scoreRound } from '../ml/scoring.js';
import { roundTrust, type Trust } from '../ml/fltrust.js';
import { classGradientBasis, noiseFloor, noiseGroups, type RoundSignal, roundSignal, spanShare } from '../ml/noise.js';
import {
  aggregateStep,
  groupTerms,
  relativeDistance,
  replicaGroups,
  stepAsUpdate,
  type WeightedUpdate,
} from '../ml/replicas.js';
import { evaluate, trainingSeed, trainLocal } from '../ml/train.js';
import { getFlatWeights, setFlatWeights } from '../ml/weights.js';
import { type RewardRule, type Scored, taskAmounts } from '../protocol/reward-rule.js';
import { parseTaskSpec } from '../protocol/task-spec.js';
import { updateWeight } from '../protocol/weights-rule.js';
import { machine } from './lib/machine.js';

const { values: options } = parseArgs({
  options: { rule: { type: 'string' }, seed: { type: 'string' }, 'keep-noise': { type: 'boolean' } },
});
const keepNoise = options['keep-noise'] === true;
const fltrust = options.rule === 'fltrust';
if (options.rule !== undefined && !fltrust)
  throw new Error(`--rule ${options.rule}: only fltrust is another rule here`);
const rounds = 3;
const holders = 4;
const examplesPerHolder = 1000;
const seed = Number(options.seed ?? 7);
if (!Number.isInteger(seed)) throw new Error(`--seed ${options.seed}: an integer`);
const demo = demoTask({ clients: holders, rounds, seed }, { path: 't10k' });
const spec = parseTaskSpec({
  ...demo,
  aggregation: {
    ...demo.aggregation,
    ...(fltrust ? { rule: 'fltrust' } : {}),
    ...(keepNoise ? { leaveOutNoise: false } : {}),
  },
});
const pool = BigInt(spec.rewards.perRound);

/** One key's update in a round: its quantized values and the sample count it declares. */
interface Sent {
  key: string;
  q: Int32Array;
  fractionBits: number[];
  declared: number;
}

/** What a scenario's attacker sends in a round, given what holder 4 would send alone and the round's context. */
type Attack = (own: Sent, round: RoundContext) => Sent[] | Promise<Sent[]>;

interface RoundContext {
  number: number;
  /** Holder 4's shard. */
  data: Dataset;
  global: Float32Array;
  /** The last round's global step (w_r − w_{r−1}), zero in round 1. */
  lastStep: Float32Array;
  random: Random;
}

interface Scenario {
  name: string;
  /** The holders' shards: label-skewed (Dirichlet 0.5), or IID with holder 3 seeing two classes only. */
  data: 'skewed' | 'iid-one-skewed';
  attack?: Attack;
  /** The replica rule's distance (the spec's default unless set). */
  replicaDistance?: number;
  /** Whether only contributors are aggregated and scored (the spec's default unless set). */
  contributorsOnly?: boolean;
  /** A private task's rule: only the tests of one update alone leave updates out, not the game (ml/scoring.ts byScore). */
  judgedAlone?: boolean;
}

interface Outcome {
  scenario: Scenario;
  /** Pay per key over all rounds, by value summed over the task (the default reward rule, `valueOver: 'task'`). */
  paid: Map<string, bigint>;
  /** The same runs paid by each round's scores alone (`rewards.valueOver: 'round'`): the model is the same. */
  paidPerRound: Map<string, bigint>;
  accuracy: number;
  scoringSeconds: number;
  /** Replica groups the scoring formed, over all rounds. */
  grouped: number;
  /** Relative distances (ml/scoring.ts replicaGroups): the closest two holders' updates, the farthest two of holder 4's keys. */
  closestHolders: number;
  farthestCopies: number;
  /** The same, between the updates' projections on the scoring set's per-class gradient span (ml/noise.ts). */
  closestHoldersInSpan: number;
  farthestCopiesInSpan: number;
  /** Updates left out of the aggregate (replays, no value), over all rounds. */
  leftOut: number;
  /** The closest any holder's update came to the last round's step (relative), from round 2: how far from a replay. */
  closestToLastStep: number;
  /** ml/noise.ts: the lowest share of a holder's update in the scoring set's gradient span, and the floor then. */
  lowestHolderShare: { share: number; floor: number };
  /** The free rider's highest share, over the rounds (free-rider scenarios). */
  freeRiderShare: number;
}

await initBackend();
const { train, test } = fashionMnist(process.env.ZKFL_FASHION_MNIST ?? defaultFashionMnistDir);
const trainSet = loadDataset(train);
const testSet = loadDataset(test);
const scoringSet = head(testSet, spec.rewards.scoringExamples);
const accuracySet = subset(
  testSet,
  Array.from({ length: 2000 }, (_, i) => 5000 + i),
);
const model = await buildModel(spec.model, spec.inputShape, spec.classes, spec.seed);
const initial = getFlatWeights(model);
const numParams = initial.length;
const params = circuitFor('default', spec.quantization.bits, numParams);
const quantization = quantizationFor(numParams, spec.clipNorm, params, spec.quantization.rounding)!;
const keys = Array.from({ length: 12 }, (_, i) => new Wallet(`0x${(i + 1).toString(16).padStart(64, '0')}`).address);
const holderKeys = keys.slice(0, holders);
const attackerKey = holderKeys[holders - 1]!;
const extraKeys = keys.slice(holders);

/** Shards of `examplesPerHolder` examples per holder. */
function shards(kind: Scenario['data']): Dataset[] {
  const pool = Array.from({ length: holders * examplesPerHolder }, (_, i) => i);
  const labels = pool.map((i) => trainSet.labels[i]!);
  if (kind === 'skewed') {
    return dirichletPartition(labels, { clients: holders, alpha: 0.5, seed }).map((shard) =>
      subset(
        trainSet,
        shard.map((i) => pool[i]!),
      ),
    );
  }
  const twoClasses = trainSet.labels
    .map((label, i) => (label <= 1 ? i : -1))
    .filter((i) => i >= holders * examplesPerHolder)
    .slice(0, examplesPerHolder);
  return Array.from({ length: holders }, (_, h) =>
    subset(trainSet, h === 2 ? twoClasses : pool.slice(h * examplesPerHolder, (h + 1) * examplesPerHolder)),
  );
}

/** What `key` sends after training on `data` from `global` in `round`, clipped and quantized as the client does. */
async function honestUpdate(key: string, data: Dataset, global: Float32Array, round: number): Promise<Sent> {
  setFlatWeights(model, global);
  await trainLocal(model, data, spec.training, {
    inputShape: spec.inputShape,
    classes: spec.classes,
    seed: trainingSeed(key, round),
  });
  const trained = getFlatWeights(model);
  return quantized(
    key,
    trained.map((w, i) => w - global[i]!),
    round,
    data.count,
  );
}

function quantized(key: string, delta: Float32Array, round: number, declared: number): Sent {
  const random = new Random(trainingSeed(key, round) ^ 0x5eed);
  const { q, fractionBits } = quantizeUpdate(delta, quantization, params, () => random.next());
  return { key, q: q.subarray(0, numParams), fractionBits, declared };
}

const asDelta = (sent: Sent): Float32Array =>
  Float32Array.from(dequantize(sent.q, sent.fractionBits, params.chunkSize));

/** `delta` plus independent Gaussian noise whose norm is `relative` times the delta's. */
function noisy(delta: Float32Array, relative: number, random: Random): Float32Array {
  const norm = Math.sqrt(delta.reduce((sum, value) => sum + value * value, 0));
  const sigma = (relative * norm) / Math.sqrt(delta.length);
  return delta.map((value) => value + sigma * random.normal());
}

/**
 * The closest two holders' updates of a round, and the farthest two of the attacker's keys, by `distance` between
 * two of `sent` (given by index).
 */
function spread(
  scenario: Scenario,
  sent: Sent[],
  distance: (i: number, j: number) => number,
): { closestHolders: number; farthestCopies: number } {
  const isAttackers = (key: string): boolean =>
    key === attackerKey || (extraKeys.includes(key) && !scenario.name.startsWith('free'));
  let closestHolders = Infinity;
  let farthestCopies = 0;
  sent.forEach((a, i) =>
    sent.slice(i + 1).forEach((b, after) => {
      const between = distance(i, i + 1 + after);
      if (isAttackers(a.key) && isAttackers(b.key)) farthestCopies = Math.max(farthestCopies, between);
      else if (holderKeys.includes(a.key) && holderKeys.includes(b.key))
        closestHolders = Math.min(closestHolders, between);
    }),
  );
  return { closestHolders, farthestCopies };
}

/** A round's spreads: raw (as the replica rule measures) and within the scoring set's gradient span (ml/noise.ts). */
function roundSpreads(scenario: Scenario, sent: Sent[], global: Float32Array) {
  const basis = classGradientBasis(model, global, scoringSet, spec.inputShape, spec.classes);
  const deltas = sent.map(asDelta);
  const inSpan = deltas.map((delta) => projected(basis, delta));
  return {
    raw: spread(scenario, sent, (i, j) =>
      relativeDistance({ ...sent[i]!, weight: 1 }, { ...sent[j]!, weight: 1 }, params.chunkSize),
    ),
    inSpan: spread(scenario, sent, (i, j) => relative(inSpan[i]!, inSpan[j]!)),
    floor: noiseFloor(basis.length, numParams),
    shares: deltas.map((delta) => spanShare(basis, delta)),
  };
}

/** `delta`'s projection on the span of the orthonormal `basis`. */
function projected(basis: Float64Array[], delta: Float32Array): Float64Array {
  const projection = new Float64Array(delta.length);
  for (const unit of basis) {
    const along = unit.reduce((sum, value, i) => sum + value * delta[i]!, 0);
    unit.forEach((value, i) => (projection[i]! += along * value));
  }
  return projection;
}

/** What a scenario's rounds measured of its updates (Outcome's distances and shares), before any round. */
type Spreads = Omit<
  Outcome,
  'scenario' | 'paid' | 'paidPerRound' | 'accuracy' | 'scoringSeconds' | 'grouped' | 'leftOut'
>;

const emptySpreads = (): Spreads => ({
  closestHolders: Infinity,
  farthestCopies: 0,
  closestHoldersInSpan: Infinity,
  farthestCopiesInSpan: 0,
  closestToLastStep: Infinity,
  lowestHolderShare: { share: Infinity, floor: NaN },
  freeRiderShare: 0,
});

/** Adds a round's updates to `spreads`; `lastStep` from round 2, to measure how far holders are from a replay. */
function addSpreads(
  spreads: Spreads,
  scenario: Scenario,
  sent: Sent[],
  global: Float32Array,
  lastStep: Float32Array | undefined,
): void {
  const { raw, inSpan, floor, shares } = roundSpreads(scenario, sent, global);
  spreads.closestHolders = Math.min(spreads.closestHolders, raw.closestHolders);
  spreads.farthestCopies = Math.max(spreads.farthestCopies, raw.farthestCopies);
  spreads.closestHoldersInSpan = Math.min(spreads.closestHoldersInSpan, inSpan.closestHolders);
  spreads.farthestCopiesInSpan = Math.max(spreads.farthestCopiesInSpan, inSpan.farthestCopies);
  if (lastStep) spreads.closestToLastStep = Math.min(spreads.closestToLastStep, closestTo(lastStep, sent));
  sent.forEach(({ key }, k) => {
    if (holderKeys.includes(key) && shares[k]! < spreads.lowestHolderShare.share) {
      spreads.lowestHolderShare = { share: shares[k]!, floor };
    }
    if (key === extraKeys[0]) spreads.freeRiderShare = Math.max(spreads.freeRiderShare, shares[k]!);
  });
}

/** ‖a − b‖ / max(‖a‖, ‖b‖). */
function relative(a: Float64Array, b: Float64Array): number {
  const norm = (values: Float64Array): number => Math.hypot(...values);
  return norm(a.map((value, i) => value - b[i]!)) / Math.max(norm(a), norm(b));
}

/** The sent updates as the round weighs them. */
const asUpdates = (sent: Sent[]): WeightedUpdate[] =>
  sent.map((update) => ({
    q: update.q,
    fractionBits: update.fractionBits,
    weight: updateWeight(spec.aggregation, update.declared),
  }));

/**
 * A round's sent updates grouped and scored as the coordinator does, with the contributors-only rule when
 * `lastStep` is given (false: every update counts), judging each update alone when `judgedAlone`.
 */
async function scoreSent(
  sent: Sent[],
  global: Float32Array,
  round: number,
  rule: { replicaDistance: number; lastStep: Float32Array | false; judgedAlone: boolean },
): Promise<{ updates: WeightedUpdate[]; groups: number[][]; scored: ScoredRoundUpdates; trust?: Trust }> {
  const { replicaDistance, lastStep, judgedAlone } = rule;
  const updates = asUpdates(sent);
  const groups = replicaGroups(updates, params.chunkSize, replicaDistance);
  const trust = fltrust ? await ownersTrust(updates, groups, global, round) : undefined;
  // The noise test is part of the round's scoring time.
  const started = performance.now();
  const noise = lastStep && spec.aggregation.leaveOutNoise ? noiseGroups(signalOf(updates, groups, global)) : undefined;
  const signalSeconds = (performance.now() - started) / 1000;
  const scored = await scoreRound({
    model,
    global,
    updates,
    groups,
    chunkSize: params.chunkSize,
    scoringSet,
    inputShape: spec.inputShape,
    classes: spec.classes,
    options: { ...defaultScoringOptions, maxEvaluations: spec.rewards.scoringBudget, seed: seed + round },
    ...(lastStep
      ? {
          contributorsOnly: {
            replayDistance: spec.aggregation.replayDistance,
            ...(round > 1 ? { previousStep: lastStep } : {}),
            ...(noise ? { noise } : {}),
            ...(judgedAlone ? { byScore: false } : {}),
          },
        }
      : {}),
    ...(trust ? { trust } : {}),
  });
  return {
    updates,
    groups,
    scored: { ...scored, seconds: scored.seconds + signalSeconds },
    ...(trust ? { trust } : {}),
  };
}

/** The noise test on the round's groups (ml/noise.ts), as the coordinator runs it. */
function signalOf(updates: WeightedUpdate[], groups: number[][], global: Float32Array): RoundSignal {
  const scoring = { set: scoringSet, inputShape: spec.inputShape, classes: spec.classes };
  return roundSignal(model, global, { updates, groups, chunkSize: params.chunkSize }, scoring);
}

/** FLTrust's trust in the round's groups, the scoring set its root, as the coordinator computes it. */
function ownersTrust(
  updates: WeightedUpdate[],
  groups: number[][],
  global: Float32Array,
  round: number,
): Promise<Trust> {
  const terms = groupTerms(updates, groups, params.chunkSize, numParams);
  const root = { set: scoringSet, training: spec.training, exponent: spec.aggregation.trustExponent };
  const context = { inputShape: spec.inputShape, classes: spec.classes, seed: seed + round };
  return roundTrust(model, global, terms, root, context);
}

async function run(scenario: Scenario): Promise<Outcome> {
  const data = shards(scenario.data);
  const replicaDistance = scenario.replicaDistance ?? spec.aggregation.replicaDistance;
  const random = new Random(seed);
  const scoredRounds: Scored[][] = [];
  let global = initial;
  let lastStep = new Float32Array(numParams);
  let scoringSeconds = 0;
  let grouped = 0;
  let leftOut = 0;
  const spreads = emptySpreads();
  const contributorsOnly = scenario.contributorsOnly ?? spec.aggregation.contributorsOnly;
  for (let round = 1; round <= rounds; round++) {
    const sent: Sent[] = [];
    for (let h = 0; h < holders; h++) {
      const own = await honestUpdate(holderKeys[h]!, data[h]!, global, round);
      const context = { number: round, data: data[h]!, global, lastStep, random };
      sent.push(...(h === holders - 1 && scenario.attack ? await scenario.attack(own, context) : [own]));
    }
    addSpreads(spreads, scenario, sent, global, round > 1 ? lastStep : undefined);
    const { updates, groups, scored, trust } = await scoreSent(sent, global, round, {
      replicaDistance,
      lastStep: contributorsOnly && lastStep,
      judgedAlone: scenario.judgedAlone === true,
    });
    leftOut += scored.leftOut.length;
    scoringSeconds += scored.seconds;
    grouped += groups.filter((members) => members.length > 1).length;
    scoredRounds.push(sent.map(({ key }, k) => ({ address: key, score: scored.scores[k]! })));
    // FedAvg over the round's groups of replicas, each counted once, only contributors, as the coordinator aggregates.
    const left = new Set(scored.leftOut.map(({ index }) => index));
    const step = Float32Array.from(
      aggregateStep(updates, groups, left, params.chunkSize, numParams, spec.aggregation, trust),
    );
    global = global.map((w, i) => w + step[i]!);
    lastStep = step;
  }
  setFlatWeights(model, global);
  const { accuracy } = await evaluate(model, accuracySet, spec.inputShape, spec.classes);
  process.stderr.write(`${scenario.name}: accuracy ${(accuracy * 100).toFixed(1)} %\n`);
  const paid = payOver(scoredRounds, spec.rewards);
  const paidPerRound = payOver(scoredRounds, { ...spec.rewards, valueOver: 'round' });
  const scoring = { scoringSeconds: scoringSeconds / rounds, grouped, leftOut };
  return { scenario, paid, paidPerRound, accuracy, ...scoring, ...spreads };
}

/** Each key's pay over the task's rounds under `rule`. */
function payOver(scoredRounds: Scored[][], rule: RewardRule): Map<string, bigint> {
  const paid = new Map<string, bigint>();
  taskAmounts(scoredRounds, pool, rule).forEach((amounts, r) =>
    amounts.forEach((amount, k) => {
      const { address } = scoredRounds[r]![k]!;
      paid.set(address, (paid.get(address) ?? 0n) + amount);
    }),
  );
  return paid;
}

const copies =
  (k: number): Attack =>
  (own) =>
    extraKeys.slice(0, k - 1).reduce((all, key) => [...all, { ...own, key }], [own]);

const nearCopies =
  (k: number, relative: number): Attack =>
  (own, round) =>
    [attackerKey, ...extraKeys.slice(0, k - 1)].map((key) =>
      quantized(key, noisy(asDelta(own), relative, round.random), round.number, own.declared),
    );

/** Holder 4's data trained under k keys: each key shuffles and rounds with its own seed. */
const sameDataUnder =
  (k: number): Attack =>
  async (own, round) => [
    own,
    ...(await Promise.all(
      extraKeys.slice(0, k - 1).map((key) => honestUpdate(key, round.data, round.global, round.number)),
    )),
  ];

/** A free rider beside holder 4, declaring 2^20 samples: a zero update, the last global step, or noise at the bound. */
const freeRider =
  (kind: 'zero' | 'replay' | 'noise'): Attack =>
  (own, round) => {
    const noise = (): Float32Array => {
      const values = Float32Array.from({ length: numParams }, () => round.random.normal());
      const norm = Math.sqrt(values.reduce((sum, value) => sum + value * value, 0));
      return values.map((value) => (value * spec.clipNorm) / norm);
    };
    const delta = kind === 'zero' ? new Float32Array(numParams) : kind === 'replay' ? round.lastStep : noise();
    return [own, quantized(extraKeys[0]!, delta, round.number, 2 ** 20)];
  };

/** How close the holders' updates came to `step` (relative distance), the closest of them. */
function closestTo(step: Float32Array, sent: Sent[]): number {
  const taken = stepAsUpdate(step, params.chunkSize);
  const holders = sent.filter((update) => holderKeys.includes(update.key));
  return Math.min(...holders.map((update) => relativeDistance({ ...update, weight: 1 }, taken, params.chunkSize)));
}

/**
 * No attack: holder 4's own update under another key, its training's randomness drawn afresh, under each rule for
 * leaving updates out: what a holder's luck alone moves everyone's pay by, the floor under every other row's change.
 */
const luck = (data: Scenario['data'], name: string): Scenario[] => {
  const attack: Attack = async (_, round) => [
    await honestUpdate(extraKeys[0]!, round.data, round.global, round.number),
  ];
  return [
    { name, data, attack },
    { name: `${name}, every update aggregated`, data, attack, contributorsOnly: false },
    { name: `${name}, each update judged alone`, data, attack, replicaDistance: 0, judgedAlone: true },
  ];
};

/** The copy attacks, under each way the holders' data can be split. */
const copyAttacks = (data: Scenario['data']): Scenario[] => [
  ...luck(data, 'no attack: holder 4 under another key (its shuffle and rounding drawn afresh)'),
  ...[2, 3, 5].map((k): Scenario => ({ name: `copies under ${k} keys`, data, attack: copies(k) })),
  { name: 'copies under 3 keys, no replica rule', data, attack: copies(3), replicaDistance: 0 },
  { name: 'near-copies: +5 % noise under 3 keys', data, attack: nearCopies(3, 0.05) },
  { name: 'near-copies: +10 % noise under 3 keys', data, attack: nearCopies(3, 0.1) },
  { name: 'near-copies: same data under 3 keys', data, attack: sameDataUnder(3) },
  { name: 'decorrelated copies: +100 % noise under 3 keys', data, attack: nearCopies(3, 1) },
  { name: 'declares 2^20 samples', data, attack: (own) => [{ ...own, declared: 2 ** 20 }] },
  ...(['zero', 'replay', 'noise'] as const).map((kind): Scenario => ({
    name: `free rider (${kind})`,
    data,
    attack: freeRider(kind),
  })),
  ...(['zero', 'replay', 'noise'] as const).map((kind): Scenario => ({
    name: `free rider (${kind}), every update aggregated`,
    data,
    attack: freeRider(kind),
    contributorsOnly: false,
  })),
  ...(['zero', 'replay', 'noise'] as const).map((kind): Scenario => ({
    name: `free rider (${kind}), each update judged alone (a private task's rule)`,
    data,
    attack: freeRider(kind),
    replicaDistance: 0,
    judgedAlone: true,
  })),
];

/** Holder 4 on one key, under the default rule and under the two others the free riders are tried with. */
const baselines = (data: Scenario['data']): Scenario[] => [
  { name: 'baseline: holder 4 on one key', data },
  { name: 'baseline, every update aggregated', data, contributorsOnly: false },
  { name: "baseline, each update judged alone (a private task's rule)", data, replicaDistance: 0, judgedAlone: true },
];

const scenarios: Scenario[] = [
  ...baselines('skewed'),
  ...copyAttacks('skewed'),
  ...baselines('iid-one-skewed'),
  ...copyAttacks('iid-one-skewed'),
];

const dataNames: Record<Scenario['data'], string> = {
  skewed: 'label-skewed (Dirichlet 0.5)',
  'iid-one-skewed': 'IID, holder 3 two classes',
};

/** The median of `amounts` (the mean of the middle two of an even count). */
function median(amounts: bigint[]): bigint {
  const sorted = [...amounts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2n;
}

const percent = (part: bigint, whole: bigint): string =>
  whole === 0n ? 'n/a' : `${((Number(part) / Number(whole)) * 100).toFixed(1)} %`;

/** The attacker's keys that sent in `outcome` (a free rider's key is not the attacker's). */
const attackerKeysIn = (outcome: Outcome): string[] =>
  [attackerKey, ...extraKeys].filter(
    (key) => outcome.paid.has(key) && (key !== extraKeys[0] || !outcome.scenario.name.startsWith('free')),
  );

/** The pay cells of a row under one reward rule: the attacker's keys, the largest honest change, the free rider. */
function payCells(outcome: Outcome, baseline: Outcome, paidOf: (o: Outcome) => Map<string, bigint>): string[] {
  const [paid, paidBefore] = [paidOf(outcome), paidOf(baseline)];
  const attackerPaid = attackerKeysIn(outcome).reduce((sum, key) => sum + paid.get(key)!, 0n);
  const honest = holderKeys.slice(0, holders - 1);
  // Against the median honest baseline pay: a holder whose data does harm is paid 0 in the baseline.
  const baselineMedian = median(honest.map((key) => paidBefore.get(key)!));
  // Signed: a holder may gain (an attacker's updates left out leave it a larger share) as well as lose.
  const honestChange = honest
    .map((key) => Number(paid.get(key)! - paidBefore.get(key)!) / Number(baselineMedian))
    .reduce((largest, change) => (Math.abs(change) > Math.abs(largest) ? change : largest), 0);
  return [
    percent(attackerPaid, paidBefore.get(attackerKey)!),
    `${honestChange > 0 ? '+' : ''}${(honestChange * 100).toFixed(1)} %`,
    outcome.scenario.name.startsWith('free')
      ? percent(paid.get(extraKeys[0]!) ?? 0n, median(holderKeys.map((key) => paid.get(key)!)))
      : '',
  ];
}

function row(outcome: Outcome, baseline: Outcome): string {
  const attackerKeys = attackerKeysIn(outcome);
  const byDefault = payCells(outcome, baseline, (o) => o.paid);
  const perRound = payCells(outcome, baseline, (o) => o.paidPerRound);
  return `| ${dataNames[outcome.scenario.data]} | ${outcome.scenario.name} | ${attackerKeys.length} | ${byDefault.join(' | ')} | ${(outcome.accuracy * 100).toFixed(1)} % | ${outcome.scoringSeconds.toFixed(2)} | ${outcome.grouped} | ${outcome.leftOut} | ${outcome.closestHolders.toFixed(2)} | ${outcome.farthestCopies ? outcome.farthestCopies.toFixed(2) : ''} | ${outcome.closestToLastStep.toFixed(2)} | ${outcome.closestHoldersInSpan.toFixed(2)} | ${outcome.farthestCopiesInSpan ? outcome.farthestCopiesInSpan.toFixed(2) : ''} | ${outcome.lowestHolderShare.share.toFixed(2)} (${outcome.lowestHolderShare.floor.toFixed(2)}) | ${outcome.scenario.name.startsWith('free') ? outcome.freeRiderShare.toFixed(2) : ''} | ${perRound.join(' | ')} |`;
}

const outcomes: Outcome[] = [];
for (const scenario of scenarios) outcomes.push(await run(scenario));
/** Which rule leaves updates out: a scenario is compared with the baseline under the same one. */
const ruleOf = ({ contributorsOnly, judgedAlone }: Scenario): string =>
  `${contributorsOnly ?? spec.aggregation.contributorsOnly}/${judgedAlone === true}`;
const baselineOf = (scenario: Scenario): Outcome =>
  outcomes.find(
    (o) =>
      o.scenario.data === scenario.data &&
      o.scenario.name.startsWith('baseline') &&
      ruleOf(o.scenario) === ruleOf(scenario),
  )!;
const table = [
  "| holders | scenario | attacker keys | attacker keys paid, of holder 4 alone | largest change in an honest holder's pay | free rider paid, of the median holder | accuracy | scoring s / round | replica groups | left out | closest two holders | farthest two attacker keys | closest holder to the last step | closest two holders in the gradient span | farthest two attacker keys in the span | lowest holder share in the gradient span (floor) | free rider's share | attacker keys paid, valueOver round | largest change in an honest holder's pay, valueOver round | free rider paid, valueOver round |",
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...outcomes.map((outcome) => row(outcome, baselineOf(outcome.scenario))),
].join('\n');
const text =
  `Machine: ${machine()}. ${holders} holders of ${examplesPerHolder} Fashion-MNIST examples, the demo's CNN ` +
  `(${numParams} parameters), ${rounds} rounds, the spec's defaults (equal weights, replica distance ` +
  `${spec.aggregation.replicaDistance}, only contributors aggregated, scoring on ${spec.rewards.scoringExamples} examples` +
  `${fltrust ? `; rule fltrust, trust ReLU(cos)^${spec.aggregation.trustExponent}, scores in FLTrust's game` : ''}` +
  `${keepNoise ? '; noise left to the game (leaveOutNoise false), as before the rule' : ''}); accuracy on 2,000 other ` +
  `test examples; seed ${seed}. Pay is over all rounds; each scenario is compared with its baseline (the same ` +
  `holders, holder 4 on one key, under the same rule for leaving updates out). Pay follows value summed over the task (\`rewards.valueOver: 'task'\`, ` +
  `protocol/reward-rule.ts); the last three columns pay the same runs by each round's scores alone (\`'round'\`).\n\n${table}\n`;
const name = `economics${fltrust ? '-fltrust' : ''}${keepNoise ? '-keep-noise' : ''}${options.seed === undefined ? '' : `-seed${seed}`}`;
writeFileSync(new URL(`./results/${name}.md`, import.meta.url), text);
process.stdout.write(text);
