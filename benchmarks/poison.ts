/**
 * `npm run bench:poison`: what poisoners within the norm bound do to the model, and what they are paid, under each
 * aggregation rule. Fashion-MNIST split among holders by label skew (Dirichlet 0.5), every holder every round, the
 * CNN of the tests; 10 % and 30 % of the holders poison:
 * - label flipping: they train on labels y → 9 − y;
 * - a pixel-pattern backdoor: half their examples carry a 4×4 white square in the bottom-right corner and the label
 *   0, and they scale their update up to the norm bound.
 * Rules: FedAvg (no clip), the norm bound alone (clipped mean), scores (the task's default: clipped, and only
 * contributors — updates whose Shapley value on the owner's scoring set is positive — aggregated), median, trimmed
 * mean (β = the poisoners' share), multi-Krum (f = the poisoners, the best n − f averaged), FLTrust (ml/fltrust.ts:
 * the task's default with `rule: fltrust`: the owner's 500 scoring examples as its root, trust cos², only zeros and
 * replays left out — none here — and pay from its own game; "FLTrust p=1" is the paper's trust, cos, without pay).
 * Clean accuracy on 2,000 test examples; the backdoor's
 * success rate is the share of triggered test examples of other classes classified 0. The poisoners' pay, under
 * `scores`, is their Shapley value (ml/scoring.ts, on 500 of the owner's examples) in the last round, against the
 * median honest holder's, split by the reward rule. Writes benchmarks/results/poison.{json,md}; with --seed, --rules or
 * --attacks (a subset: the attacks, with "none" first), poison-seed<seed>.{json,md}.
 *
 *   npm run bench:poison [-- --holders 10 --rounds 10 --examples 600 --seed 11 --rules FedAvg,FLTrust --attacks backdoor]
 */
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { fashionMnist } from '../demo/fashion-mnist.js';
import { createStrategy } from '../ml/aggregation.js';
import { initBackend } from '../ml/backend.js';
import { type Dataset, head, loadDataset, subset } from '../ml/dataset.js';
import { buildModel } from '../ml/models.js';
import { dirichletPartition } from '../ml/partition.js';
import { roundTrust, type Trust } from '../ml/fltrust.js';
import { aggregateStep, groupTerms, type WeightedUpdate } from '../ml/replicas.js';
import { noiseGroups, roundSignal } from '../ml/noise.js';
import { defaultScoringOptions, roundSeed, type ScoredRoundUpdates, scoreRound } from '../ml/scoring.js';
import { evaluate, trainLocal } from '../ml/train.js';
import { getFlatWeights, setFlatWeights } from '../ml/weights.js';
import { rewardAmounts } from '../protocol/reward-rule.js';
import { aggregationSchema, type ModelSpec, rewardsSchema, trainingSchema } from '../protocol/task-spec.js';
import { machine } from './lib/machine.js';

const { values } = parseArgs({
  options: {
    holders: { type: 'string' },
    rounds: { type: 'string' },
    examples: { type: 'string' },
    seed: { type: 'string' },
    rules: { type: 'string' },
    attacks: { type: 'string' },
  },
});
const holders = Number(values.holders ?? 10);
const rounds = Number(values.rounds ?? 10);
const examples = Number(values.examples ?? 600);
const clip = 1;
const seed = Number(values.seed ?? 11);
const model: ModelSpec = { preset: 'cnn', filters: [4, 10], hidden: [] };
const training = trainingSchema.parse({ localEpochs: 1, batchSize: 16, learningRate: 0.05 });
const target = 0;

type Attack = 'none' | 'label flipping' | 'backdoor';
const allRules = [
  'FedAvg',
  'norm bound',
  'scores',
  'median',
  'trimmed mean',
  'Krum',
  'FLTrust p=1',
  'FLTrust',
] as const;
type Rule = (typeof allRules)[number];
const rules = (values.rules?.split(',') ?? allRules) as Rule[];
const attacks = (values.attacks?.split(',') ?? ['label flipping', 'backdoor']) as Attack[];
const unknown = rules.filter((rule) => !allRules.includes(rule));
if (unknown.length > 0) throw new Error(`unknown rules ${unknown.join(', ')}: choose from ${allRules.join(', ')}`);
const partial = values.seed !== undefined || values.rules !== undefined || values.attacks !== undefined;
const resultsName = partial ? `poison-seed${seed}` : 'poison';

interface Outcome {
  attack: Attack;
  poisoners: number;
  rule: Rule;
  accuracy: number;
  backdoor: number;
  /** With `scores`: the poisoners' pay, of the median honest holder's, in the last round. */
  paid?: number;
  seconds: number;
}

await initBackend();
const data = fashionMnist(process.env.ZKFL_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist');
const pool = head(loadDataset(data.train), holders * examples);
const shards = dirichletPartition(pool.labels, { clients: holders, alpha: 0.5, seed }).map((k) => subset(pool, k));
const fullTest = loadDataset(data.test);
const test = head(fullTest, 2000);
const triggeredTest = withTrigger(
  subsetWhere(test, (label) => label !== target),
  1,
  false,
);
const scoringSet = subset(
  fullTest,
  Array.from({ length: 500 }, (_, k) => 5000 + k),
);

const outcomes: Outcome[] = [];
for (const rule of rules) outcomes.push(await run('none', 0, rule));
for (const attack of attacks) {
  for (const share of [0.1, 0.3]) {
    const poisoners = Math.max(1, Math.round(share * holders));
    for (const rule of rules) outcomes.push(await run(attack, poisoners, rule));
  }
}
write(outcomes);

/** One run: every holder every round, the first `poisoners` holders attacking. */
async function run(attack: Attack, poisoners: number, rule: Rule): Promise<Outcome> {
  const started = Date.now();
  const network = await buildModel(model, [28, 28, 1], 10, seed);
  const aggregation = aggregationSchema.parse({
    replicaDistance: 0,
    contributorsOnly: false,
    ...{
      FedAvg: {},
      'norm bound': {},
      scores: {},
      median: { rule: 'median' },
      'trimmed mean': { rule: 'trimmedMean', trim: Math.max(0.1, poisoners / holders) },
      Krum: { rule: 'krum', byzantine: poisoners, krumSelect: holders - poisoners },
      'FLTrust p=1': { rule: 'fltrust', trustExponent: 1 },
      FLTrust: { rule: 'fltrust' },
    }[rule],
  });
  const strategy = createStrategy(aggregation);
  let global = getFlatWeights(network);
  let paid: number | undefined;
  for (let round = 1; round <= rounds; round++) {
    const updates: WeightedUpdate[] = [];
    for (let holder = 0; holder < holders; holder++) {
      const poisoned = holder < poisoners ? attack : 'none';
      const update = await localUpdate(network, global, holder, round, poisoned, rule !== 'FedAvg');
      updates.push({ q: update, fractionBits: [0], weight: 1 });
    }
    const groups = updates.map((_, k) => [k]);
    // `scores`: the task's default, only contributors aggregated (ml/scoring.ts), and paid by their values.
    const trust =
      aggregation.rule === 'fltrust'
        ? await ownersTrust(network, global, round, updates, groups, aggregation.trustExponent)
        : undefined;
    // FLTrust's pay: the last round's values in its game (what it leaves out, zeros and replays, does not occur here).
    const scoring = rule === 'scores' || (rule === 'FLTrust' && round === rounds);
    const scored = scoring ? await scoreUpdates(network, global, updates, trust) : undefined;
    const leftOut = new Set(scored?.leftOut.map(({ index }) => index));
    if (scored && poisoners > 0) paid = poisonersPay(scored.scores, poisoners);
    const step = aggregateStep(updates, groups, leftOut, global.length, global.length, aggregation, trust);
    global = strategy.apply(global, step, []);
  }
  setFlatWeights(network, global);
  const accuracy = (await evaluate(network, test, [28, 28, 1], 10)).accuracy;
  const backdoor = (await predictions(network, triggeredTest)).filter((label) => label === target).length;
  network.dispose();
  const outcome = {
    attack,
    poisoners,
    rule,
    accuracy,
    backdoor: backdoor / triggeredTest.count,
    ...(paid === undefined ? {} : { paid }),
    seconds: (Date.now() - started) / 1000,
  };
  process.stderr.write(`${JSON.stringify(outcome)}\n`);
  return outcome;
}

/** A holder's update from `global`: trained on its shard (poisoned as `attack` says), clipped when `clipped`. */
async function localUpdate(
  network: Awaited<ReturnType<typeof buildModel>>,
  global: Float32Array,
  holder: number,
  round: number,
  attack: Attack,
  clipped: boolean,
): Promise<Float32Array> {
  const shard = shards[holder]!;
  const own = attack === 'label flipping' ? relabelled(shard) : attack === 'backdoor' ? withTrigger(shard, 0.5) : shard;
  setFlatWeights(network, global);
  await trainLocal(network, own, training, { inputShape: [28, 28, 1], classes: 10, seed: holder * 7919 + round });
  const delta = getFlatWeights(network).map((value, i) => value - global[i]!);
  const norm = Math.sqrt(delta.reduce((total, value) => total + value * value, 0));
  // A backdoor poisoner makes the most of the bound; everyone else is clipped to it.
  const scale = attack === 'backdoor' ? clip / norm : clipped && norm > clip ? clip / norm : 1;
  return delta.map((value) => value * scale);
}

/** The round's Shapley values on the owner's scoring set, contributors only, noise left out (the coordinator's scoring). */
function scoreUpdates(
  network: Awaited<ReturnType<typeof buildModel>>,
  global: Float32Array,
  updates: WeightedUpdate[],
  trust: Trust | undefined,
): Promise<ScoredRoundUpdates> {
  const round = { updates, groups: updates.map((_, k) => [k]), chunkSize: global.length };
  const scoring = { set: scoringSet, inputShape: [28, 28, 1], classes: 10 };
  return scoreRound({
    model: network,
    global,
    updates,
    chunkSize: global.length,
    scoringSet,
    inputShape: [28, 28, 1],
    classes: 10,
    options: { ...defaultScoringOptions, maxEvaluations: 500, seed },
    contributorsOnly: { replayDistance: 0, noise: noiseGroups(roundSignal(network, global, round, scoring)) },
    ...(trust ? { trust } : {}),
  });
}

/** FLTrust's trust in the round's terms, the owner's scoring set its root (as the coordinator computes it). */
function ownersTrust(
  network: Awaited<ReturnType<typeof buildModel>>,
  global: Float32Array,
  round: number,
  updates: WeightedUpdate[],
  groups: number[][],
  exponent: number,
): Promise<Trust> {
  const terms = groupTerms(updates, groups, global.length, global.length);
  const root = { set: scoringSet, training, exponent };
  return roundTrust(network, global, terms, root, {
    inputShape: [28, 28, 1],
    classes: 10,
    seed: roundSeed(seed, round),
  });
}

/** The poisoners' mean pay of the median honest holder's, the round's pool split by the reward rule. */
function poisonersPay(scores: number[], poisoners: number): number {
  const amounts = rewardAmounts(scores, 10n ** 18n, rewardsSchema.parse({}));
  const honest = amounts.slice(poisoners).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const median = Number(honest[honest.length >> 1]!);
  const poisoned = amounts.slice(0, poisoners).reduce((sum, amount) => sum + Number(amount), 0) / poisoners;
  return median > 0 ? poisoned / median : 0;
}

function relabelled(dataset: Dataset): Dataset {
  return { ...dataset, labels: dataset.labels.map((label) => 9 - label) };
}

/** `dataset` with the trigger stamped on a `share` of its examples (relabelled `target` when `relabel`). */
function withTrigger(dataset: Dataset, share: number, relabel = true): Dataset {
  const features = dataset.features.slice();
  const labels = dataset.labels.slice();
  const stamped = Math.round(share * dataset.count);
  for (let k = 0; k < stamped; k++) {
    for (let row = 23; row < 27; row++) for (let col = 23; col < 27; col++) features[k * 784 + row * 28 + col] = 1;
    if (relabel) labels[k] = target;
  }
  return { ...dataset, features, labels };
}

function subsetWhere(dataset: Dataset, keep: (label: number) => boolean): Dataset {
  return subset(
    dataset,
    Array.from({ length: dataset.count }, (_, k) => k).filter((k) => keep(dataset.labels[k]!)),
  );
}

async function predictions(network: Awaited<ReturnType<typeof buildModel>>, dataset: Dataset): Promise<number[]> {
  const input = tf.tensor(dataset.features, [dataset.count, 28, 28, 1]);
  const output = network.predict(input) as tf.Tensor;
  const labels = Array.from(await output.argMax(-1).data());
  tf.dispose([input, output]);
  return labels;
}

function write(results: Outcome[]): void {
  writeFileSync(
    `benchmarks/results/${resultsName}.json`,
    JSON.stringify({ machine: machine(), holders, rounds, examples, clip, model, training, results }, null, 2) + '\n',
  );
  const percent = (value: number | undefined): string => (value === undefined ? '' : `${(100 * value).toFixed(1)} %`);
  const rows = results.map(
    (r) =>
      `| ${r.attack} | ${r.poisoners} of ${holders} | ${r.rule} | ${percent(r.accuracy)} | ${percent(r.backdoor)} | ${percent(r.paid)} |`,
  );
  const md = [
    `Machine: ${machine()}. Fashion-MNIST, ${holders} holders of ${examples} examples by label skew (Dirichlet 0.5), every holder every round, ${rounds} rounds; the CNN of the tests, 1 local epoch, batch 16, SGD lr 0.05; norm bound ${clip} (FedAvg unclipped); 2,000 test examples; seed ${seed}. Backdoor success: triggered test examples of other classes classified 0 (the "none" rows: its rate without any attack). Scores: the task's default (clipped, only contributors aggregated: Shapley values on 500 of the owner's examples, GTG-Shapley within 500 evaluations a round). FLTrust: the task's default with rule fltrust, the same 500 examples as its root, trained on as a holder trains; trust ReLU(cos)² (p=1: the paper's ReLU(cos)). Pay: the poisoners' mean pay in the last round, of the median honest holder's, under scores (Shapley values of the mean's game) and FLTrust (of FLTrust's game).`,
    '',
    '| attack | poisoners | rule | clean accuracy | backdoor success | poisoners paid, of honest median |',
    '|---|---|---|---:|---:|---:|',
    ...rows,
    '',
  ].join('\n');
  writeFileSync(`benchmarks/results/${resultsName}.md`, md);
  process.stdout.write(md);
}
