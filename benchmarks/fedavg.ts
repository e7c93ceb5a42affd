/**
 * `npm run bench:fedavg`: the NIID-Bench setting on Fashion-MNIST (Li et al., 2021) — 10 clients, label skew
 * Dirichlet α = 0.5, every client in every round, the simple CNN, SGD with momentum 0.9, lr 0.01, batch 64 — run
 * with the real coordinator and 10 real client processes; then a centralized baseline of the same model on all
 * the training data. Writes accuracy per round, wall time per round and the coordinator's peak memory to
 * benchmarks/results/fedavg.{json,md}.
 *
 *   npm run bench:fedavg [-- --rounds 50 --epochs 1 --clients 10 --alpha 0.5 --baseline-epochs 10]
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fashionMnist } from '../demo/fashion-mnist.js';
import { initBackend } from '../ml/backend.js';
import { loadDataset, saveIdx } from '../ml/dataset.js';
import { buildModel } from '../ml/models.js';
import { dirichletPartition } from '../ml/partition.js';
import { evaluate, trainLocal } from '../ml/train.js';
import type { RoundView, TaskView } from '../protocol/rest.js';
import { trainingSchema, type TaskSpecInput } from '../protocol/task-spec.js';
import { machine, peakRssMiB } from './lib/machine.js';
import { spawnZkfl, startCoordinatorProcess } from './lib/processes.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string' },
    epochs: { type: 'string' },
    clients: { type: 'string' },
    alpha: { type: 'string' },
    'baseline-epochs': { type: 'string' },
  },
});
const rounds = Number(values.rounds ?? 50);
const localEpochs = Number(values.epochs ?? 1);
const clients = Number(values.clients ?? 10);
const alpha = Number(values.alpha ?? 0.5);
const baselineEpochs = Number(values['baseline-epochs'] ?? 10);
const target = 0.88;

const data = fashionMnist(process.env.ZKFL_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist');
const training = trainingSchema.parse({ localEpochs, batchSize: 64, learningRate: 0.01, optimizer: 'momentum' });
const spec: TaskSpecInput = {
  name: 'bench:fedavg (NIID-Bench, Fashion-MNIST)',
  model: { preset: 'cnn' },
  rounds,
  clientsPerRound: { min: clients, target: clients },
  training,
  roundDeadlineSeconds: 3600,
  // Quantized 16-bit updates clipped at τ = 10 (15 chunks: τ/√15 each, f = 13), without proofs: 15 proofs per
  // client per round would dominate the run, and what proofs cost is bench:prove's subject.
  clipNorm: 10,
  proofs: false,
  evaluation: { path: data.test },
  seed: 1,
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function federated(): Promise<{ rounds: RoundView[]; coordinatorPeakRssMiB: number; numParams: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'zkfl-bench-fedavg-'));
  const children: ChildProcess[] = [];
  try {
    const trainSet = loadDataset(data.train);
    const shards = dirichletPartition(trainSet.labels, { clients, alpha, seed: 1 });
    shards.forEach((shard, i) => saveIdx(join(dir, `client-${i}`), trainSet, shard));
    process.stderr.write(`shards: ${shards.map((shard) => shard.length).join(', ')}\n`);
    const coordinator = await startCoordinatorProcess(join(dir, 'coordinator'));
    children.push(coordinator.child);
    const response = await fetch(`${coordinator.url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(spec),
    });
    const task = (await response.json()) as TaskView;
    for (let i = 0; i < clients; i++) {
      const args = ['client', '--coordinator', coordinator.url, '--task', task.id, '--data', join(dir, `client-${i}`)];
      children.push(
        spawnZkfl([...args, '--key', join(dir, `key-${i}.json`), '--progress', 'none', '--log-level', 'warn']),
      );
    }
    let reported = 0;
    for (;;) {
      await sleep(2000);
      const done = (
        (await (await fetch(`${coordinator.url}/api/tasks/${task.id}/rounds`)).json()) as RoundView[]
      ).filter((round) => round.phase === 'evaluated');
      for (const round of done.slice(reported)) {
        const seconds = (Date.parse(round.closedAt!) - Date.parse(round.openedAt)) / 1000;
        process.stderr.write(
          `round ${round.round}: accuracy ${(round.accuracy! * 100).toFixed(2)}% (${seconds.toFixed(1)} s)\n`,
        );
      }
      reported = done.length;
      if (done.length === rounds) {
        return { rounds: done, coordinatorPeakRssMiB: peakRssMiB(coordinator.child.pid!), numParams: task.numParams };
      }
    }
  } finally {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function centralized(): Promise<Array<{ epoch: number; accuracy: number; loss: number; seconds: number }>> {
  await initBackend();
  const trainSet = loadDataset(data.train);
  const testSet = loadDataset(data.test);
  const model = await buildModel({ preset: 'cnn' }, [28, 28, 1], 10, 1);
  const results = [];
  for (let epoch = 1; epoch <= baselineEpochs; epoch++) {
    const started = Date.now();
    await trainLocal(
      model,
      trainSet,
      { ...training, localEpochs: 1 },
      { inputShape: [28, 28, 1], classes: 10, seed: epoch },
    );
    const seconds = (Date.now() - started) / 1000;
    const metrics = await evaluate(model, testSet, [28, 28, 1], 10);
    results.push({ epoch, ...metrics, seconds });
    process.stderr.write(
      `centralized epoch ${epoch}: accuracy ${(metrics.accuracy * 100).toFixed(2)}% (${seconds.toFixed(1)} s)\n`,
    );
  }
  return results;
}

const fl = await federated();
const baseline = await centralized();

const roundSeconds = fl.rounds.map((round) => (Date.parse(round.closedAt!) - Date.parse(round.openedAt)) / 1000);
const median = [...roundSeconds].sort((a, b) => a - b)[Math.floor(roundSeconds.length / 2)]!;
const last = fl.rounds.at(-1)!;
const best = Math.max(...fl.rounds.map((round) => round.accuracy!));
const reached = fl.rounds.find((round) => round.accuracy! >= target)?.round;
const summary = {
  machine: machine(),
  setting: {
    clients,
    alpha,
    rounds,
    localEpochs,
    batchSize: training.batchSize,
    learningRate: training.learningRate,
    optimizer: 'SGD, momentum 0.9',
    model: `NIID-Bench simple CNN, ${fl.numParams} parameters`,
  },
  finalAccuracy: last.accuracy,
  bestAccuracy: best,
  firstRoundAtTarget: reached ?? null,
  medianRoundSeconds: median,
  coordinatorPeakRssMiB: fl.coordinatorPeakRssMiB,
  rounds: fl.rounds.map((round, i) => ({
    round: round.round,
    accuracy: round.accuracy,
    loss: round.loss,
    seconds: roundSeconds[i],
  })),
  centralized: baseline,
};
writeFileSync(new URL('./results/fedavg.json', import.meta.url), JSON.stringify(summary, null, 2) + '\n');

const pct = (value: number | null): string => (value === null ? '-' : `${(value * 100).toFixed(2)} %`);
const markdown = `# bench:fedavg

Machine: ${summary.machine}.
Setting: ${clients} clients, Dirichlet α = ${alpha}, all clients every round, ${rounds} rounds, ${localEpochs} local epoch(s),
batch ${training.batchSize}, lr ${training.learningRate}, SGD with momentum 0.9; ${summary.setting.model}; real coordinator
and ${clients} client processes (wasm backend, one thread each) on 2 cores; updates clipped (τ = 10) and
quantized to 16 bits, proofs off.

| | value |
|---|---|
| accuracy after round ${rounds} | ${pct(last.accuracy)} |
| best accuracy | ${pct(best)} |
| first round at ≥ ${target * 100} % | ${reached ?? `not reached in ${rounds} rounds`} |
| wall time per round (median) | ${median.toFixed(1)} s |
| coordinator peak RSS | ${fl.coordinatorPeakRssMiB.toFixed(0)} MiB |
| centralized baseline, best of ${baselineEpochs} epochs | ${pct(Math.max(...baseline.map((epoch) => epoch.accuracy)))} |

| round | accuracy | loss | seconds |
|---:|---:|---:|---:|
${summary.rounds.map((round) => `| ${round.round} | ${pct(round.accuracy)} | ${round.loss!.toFixed(4)} | ${round.seconds!.toFixed(1)} |`).join('\n')}

Centralized training of the same model on all 60,000 examples:

| epoch | accuracy | loss | seconds |
|---:|---:|---:|---:|
${baseline.map((epoch) => `| ${epoch.epoch} | ${pct(epoch.accuracy)} | ${epoch.loss.toFixed(4)} | ${epoch.seconds.toFixed(1)} |`).join('\n')}
`;
writeFileSync(new URL('./results/fedavg.md', import.meta.url), markdown);
process.stdout.write(markdown);
process.exit(0);
