/**
 * `npm run bench:same-data`: can a rule on updates tell one holder's data trained under several keys from several
 * holders with similar data? Four IID shards of Fashion-MNIST train the demo's CNN as the client does; holder 4's
 * shard is also trained under two more keys (each its own shuffle and rounding seed, as `sameDataUnder` in
 * bench:economics sends), and, as a careful attacker would, under two keys that each take a random 80 % of it. Each
 * round reports, for the copies and for the distinct holders, the range of pairwise relative distances (what the
 * replica rule measures) and of the correlation of their components off the round's mean (what a rule looking for
 * shared data would measure). The model moves by the distinct holders' mean. Seeded. Writes results/same-data.md.
 */
import { writeFileSync } from 'node:fs';
import { Wallet } from 'ethers';
import { Random } from '../common/random.js';
import { defaultFashionMnistDir, fashionMnist } from '../demo/fashion-mnist.js';
import { demoTask } from '../demo/demo.js';
import { initBackend } from '../ml/backend.js';
import { type Dataset, loadDataset, subset } from '../ml/dataset.js';
import { buildModel } from '../ml/models.js';
import { trainingSeed, trainLocal } from '../ml/train.js';
import { getFlatWeights, setFlatWeights } from '../ml/weights.js';
import { parseTaskSpec } from '../protocol/task-spec.js';
import { machine } from './lib/machine.js';

const rounds = 4;
const examplesPerHolder = 1000;
const seed = 7;
const spec = parseTaskSpec(demoTask({ clients: 4, rounds, seed }, { path: 't10k' }));

await initBackend();
const trainSet = loadDataset(fashionMnist(process.env.ZKFL_FASHION_MNIST ?? defaultFashionMnistDir).train);
const model = await buildModel(spec.model, spec.inputShape, spec.classes, spec.seed);
const keys = Array.from({ length: 8 }, (_, i) => new Wallet(`0x${(i + 1).toString(16).padStart(64, '0')}`).address);
const shard = (h: number): number[] => Array.from({ length: examplesPerHolder }, (_, i) => h * examplesPerHolder + i);
const random = new Random(seed);
/** A random 80 % of `indices`. */
const most = (indices: number[]): number[] => indices.filter(() => random.next() < 0.8);

interface Sender {
  kind: 'holder' | 'copy' | 'subset copy';
  key: string;
  data: Dataset;
}
const senders: Sender[] = [
  ...[0, 1, 2, 3].map((h): Sender => ({
    kind: 'holder',
    key: keys[h]!,
    data: subset(trainSet, shard(h)),
  })),
  ...[4, 5].map((k): Sender => ({
    kind: 'copy',
    key: keys[k]!,
    data: subset(trainSet, shard(3)),
  })),
  ...[6, 7].map((k): Sender => ({
    kind: 'subset copy',
    key: keys[k]!,
    data: subset(trainSet, most(shard(3))),
  })),
];

async function update(sender: Sender, global: Float32Array, round: number): Promise<Float32Array> {
  setFlatWeights(model, global);
  const context = { inputShape: spec.inputShape, classes: spec.classes, seed: trainingSeed(sender.key, round) };
  await trainLocal(model, sender.data, spec.training, context);
  return getFlatWeights(model).map((w, i) => w - global[i]!);
}

const norm = (a: Float32Array): number => Math.sqrt(a.reduce((sum, v) => sum + v * v, 0));
const minus = (a: Float32Array, b: Float32Array): Float32Array => a.map((v, i) => v - b[i]!);
const cosine = (a: Float32Array, b: Float32Array): number =>
  a.reduce((sum, v, i) => sum + v * b[i]!, 0) / norm(a) / norm(b);
const distance = (a: Float32Array, b: Float32Array): number => norm(minus(a, b)) / Math.max(norm(a), norm(b));
const mean = (updates: Float32Array[]): Float32Array =>
  updates[0]!.map((_, i) => updates.reduce((sum, u) => sum + u[i]!, 0) / updates.length);
const range = (values: number[]): string => `${Math.min(...values).toFixed(2)} – ${Math.max(...values).toFixed(2)}`;

/** Pairs of senders by what they are: holder 4 with its copies (or among them), or two distinct holders. */
function pairs(kind: 'copy' | 'subset copy' | 'holder'): Array<[number, number]> {
  const holder4 = 3;
  const members =
    kind === 'holder' ? [0, 1, 2, 3] : [holder4, ...senders.flatMap((s, i) => (s.kind === kind ? [i] : []))];
  return members.flatMap((a, i) => members.slice(i + 1).map((b): [number, number] => [a, b]));
}

const rows: string[] = [];
let global = getFlatWeights(model);
for (let round = 1; round <= rounds; round++) {
  const updates: Float32Array[] = [];
  for (const sender of senders) updates.push(await update(sender, global, round));
  const offMean = updates.map((u) => minus(u, mean(updates)));
  for (const kind of ['copy', 'subset copy', 'holder'] as const) {
    const distances = pairs(kind).map(([a, b]) => distance(updates[a]!, updates[b]!));
    const correlations = pairs(kind).map(([a, b]) => cosine(offMean[a]!, offMean[b]!));
    const who = {
      copy: 'holder 4 and its copies (all its data)',
      'subset copy': 'holder 4 and its 80 % copies',
      holder: 'the four distinct holders',
    }[kind];
    rows.push(`| ${round} | ${who} | ${range(distances)} | ${range(correlations)} |`);
  }
  process.stderr.write(`round ${round} measured\n`);
  global = global.map((w, i) => w + mean(updates.slice(0, 4))[i]!);
}

const text =
  `Machine: ${machine()}. Four IID shards of ${examplesPerHolder} Fashion-MNIST training examples, the demo's CNN ` +
  `and training (${spec.training.localEpochs} epoch, batch ${spec.training.batchSize}, ${spec.training.optimizer} at ` +
  `${spec.training.learningRate}), ${rounds} rounds moved by the distinct holders' mean; seed ${seed}. Distance: ` +
  `‖Δ_a − Δ_b‖ / max(‖Δ_a‖, ‖Δ_b‖), as the replica rule measures it. Correlation: the cosine of the two updates' ` +
  `components off the round's mean (all eight updates).\n\n` +
  `| round | pairs | relative distance | correlation off the mean |\n|---:|---|---|---|\n${rows.join('\n')}\n`;
writeFileSync(new URL('./results/same-data.md', import.meta.url), text);
process.stdout.write(text);
