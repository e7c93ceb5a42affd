/**
 * `npm run bench:fedavg`: the NIID-Bench setting on Fashion-MNIST (Li et al., 2021) — 10 clients, label skew
 * Dirichlet α = 0.5, every client in every round, the simple CNN, SGD with momentum 0.9, lr 0.01, batch 64 — run
 * on the proof path (a real coordinator and real client processes that clip, quantize at the task's bits and, with
 * --proofs, commit and prove; proofs never change values, so they are off by default for speed) and, in the same
 * run, float FedAvg in this process with the same partition, model seed and per-client training seeds. Writes
 * accuracy per round for both, wall time per round and the coordinator's peak memory to
 * benchmarks/results/fedavg.{json,md} (with --proofs: fedavg-proofs.{json,md}).
 *
 *   npm run bench:fedavg [-- --rounds 50 --epochs 3 --clients 10 --alpha 0.5 --bits 6 --clip 20 --proofs]
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Wallet } from 'ethers';
import { OwnerSession } from '../client/owner.js';
import { CoordinatorApi } from '../protocol/api.js';
import { parseArgs } from 'node:util';
import { loadOrCreateWallet } from '../common/identity.js';
import { fashionMnist } from '../demo/fashion-mnist.js';
import { initBackend } from '../ml/backend.js';
import { loadDataset, saveIdx, subset } from '../ml/dataset.js';
import { dirichletPartition } from '../ml/partition.js';
import type { RoundView } from '../protocol/rest.js';
import { trainingSchema, type TaskSpecInput } from '../protocol/task-spec.js';
import { machine, peakRssMiB } from './lib/machine.js';
import { spawnZkfl, startCoordinatorProcess } from './lib/processes.js';
import { simulateFedAvg } from './lib/simulate.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string' },
    epochs: { type: 'string' },
    clients: { type: 'string' },
    alpha: { type: 'string' },
    bits: { type: 'string' },
    clip: { type: 'string' },
    proofs: { type: 'boolean' },
  },
});
const rounds = Number(values.rounds ?? 50);
const localEpochs = Number(values.epochs ?? 3);
const clients = Number(values.clients ?? 10);
const alpha = Number(values.alpha ?? 0.5);
const bits = Number(values.bits ?? 6) as 6 | 8 | 16;
// Loose enough that honest updates of this setting are not clipped (the float baseline is not clipped either).
const clipNorm = Number(values.clip ?? 20);
const proofs = values.proofs ?? false;
const target = 0.884;
const tolerance = 0.003;
const seed = 1;

const data = fashionMnist(process.env.ZKFL_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist');
const training = trainingSchema.parse({ localEpochs, batchSize: 64, learningRate: 0.01, optimizer: 'momentum' });
const spec: TaskSpecInput = {
  name: 'bench:fedavg (NIID-Bench, Fashion-MNIST)',
  model: { preset: 'cnn' },
  rounds,
  clientsPerRound: { min: clients, target: clients },
  training,
  roundDeadlineSeconds: 7200,
  clipNorm,
  quantization: { bits, rounding: 'stochastic' },
  proofs,
  evaluation: { path: basename(data.test) },
  seed,
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const dir = mkdtempSync(join(tmpdir(), 'zkfl-bench-fedavg-'));
const trainSet = loadDataset(data.train);
const shards = dirichletPartition(trainSet.labels, { clients, alpha, seed });
const keys = shards.map((_, i) => join(dir, `key-${i}.json`));
const addresses = keys.map((key) => loadOrCreateWallet(key).address);
process.stderr.write(`shards: ${shards.map((shard) => shard.length).join(', ')}\n`);

/** The proof path: a real coordinator and one real client process per shard. */
async function federated(): Promise<{ rounds: RoundView[]; coordinatorPeakRssMiB: number; numParams: number }> {
  const children: ChildProcess[] = [];
  try {
    shards.forEach((shard, i) => saveIdx(join(dir, `client-${i}`), trainSet, shard));
    const coordinator = await startCoordinatorProcess(join(dir, 'coordinator'), ['--data-root', dirname(data.test)]);
    children.push(coordinator.child);
    const task = await (await OwnerSession.open(coordinator.url, Wallet.createRandom())).createTask(spec);
    for (let i = 0; i < clients; i++) {
      const args = ['client', '--coordinator', coordinator.url, '--task', task.id, '--data', join(dir, `client-${i}`)];
      children.push(
        spawnZkfl([...args, '--key', keys[i]!, '--accept-terms', '--progress', 'none', '--log-level', 'warn']),
      );
    }
    let reported = 0;
    for (;;) {
      await sleep(2000);
      const done = (await new CoordinatorApi(coordinator.url).rounds(task.id)).filter(
        (round) => round.phase === 'evaluated',
      );
      for (const round of done.slice(reported)) {
        const seconds = (Date.parse(round.closedAt!) - Date.parse(round.openedAt)) / 1000;
        process.stderr.write(
          `proof path round ${round.round}: accuracy ${(round.accuracy! * 100).toFixed(2)}% (${seconds.toFixed(1)} s)\n`,
        );
      }
      reported = done.length;
      if (done.length === rounds) {
        return { rounds: done, coordinatorPeakRssMiB: peakRssMiB(coordinator.child.pid!), numParams: task.numParams };
      }
    }
  } finally {
    for (const child of children) child.kill('SIGKILL');
  }
}

/** Float FedAvg with the same partition, model seed and training seeds, in this process. */
async function float(): ReturnType<typeof simulateFedAvg> {
  await initBackend();
  return simulateFedAvg({
    model: { preset: 'cnn' },
    seed,
    rounds,
    training,
    clients: shards.map((shard, i) => ({ address: addresses[i]!, data: subset(trainSet, shard) })),
    test: loadDataset(data.test),
    onRound: (round) =>
      process.stderr.write(
        `float round ${round.round}: accuracy ${(round.accuracy * 100).toFixed(2)}% (${round.seconds.toFixed(1)} s, largest update norm ${round.maxUpdateNorm.toFixed(2)})\n`,
      ),
  });
}

const started = Date.now();
const [fl, baseline] = await Promise.all([federated(), float()]);
rmSync(dir, { recursive: true, force: true });
const wallMinutes = (Date.now() - started) / 60_000;

const roundSeconds = fl.rounds.map((round) => (Date.parse(round.closedAt!) - Date.parse(round.openedAt)) / 1000);
const median = [...roundSeconds].sort((a, b) => a - b)[Math.floor(roundSeconds.length / 2)]!;
const last = fl.rounds.at(-1)!;
const floatLast = baseline.at(-1)!;
const gap = last.accuracy! - floatLast.accuracy;
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
    quantization: { bits, rounding: 'stochastic', clipNorm },
    proofs,
  },
  finalAccuracy: last.accuracy,
  floatFinalAccuracy: floatLast.accuracy,
  gapToFloat: gap,
  firstRoundAtTarget: reached ?? null,
  medianRoundSeconds: median,
  wallMinutes,
  coordinatorPeakRssMiB: fl.coordinatorPeakRssMiB,
  rounds: fl.rounds.map((round, i) => ({
    round: round.round,
    accuracy: round.accuracy,
    loss: round.loss,
    floatAccuracy: baseline[i]!.accuracy,
    floatLoss: baseline[i]!.loss,
    floatMaxUpdateNorm: baseline[i]!.maxUpdateNorm,
    seconds: roundSeconds[i],
  })),
};
const name = proofs ? 'fedavg-proofs' : 'fedavg';
writeFileSync(new URL(`./results/${name}.json`, import.meta.url), JSON.stringify(summary, null, 2) + '\n');

const pct = (value: number | null): string => (value === null ? '-' : `${(value * 100).toFixed(2)} %`);
const markdown = `# bench:fedavg${proofs ? ' (proofs on)' : ''}

Machine: ${summary.machine}.
Setting: ${clients} clients, Dirichlet α = ${alpha}, all clients every round, ${rounds} rounds, ${localEpochs} local epoch(s),
batch ${training.batchSize}, lr ${training.learningRate}, SGD with momentum 0.9; ${summary.setting.model}.
Proof path: a real coordinator and ${clients} client processes (wasm backend, one thread each) on 2 cores; updates clipped
(τ = ${clipNorm}), quantized to ${bits}-bit values at a power-of-two scale per chunk with stochastic rounding${proofs ? ', committed, proven and verified' : ' (proofs off: they never change values)'}.
Float FedAvg: the same partition, model seed and per-client training seeds, float updates, in the benchmark's process, at
the same time. Whole run: ${wallMinutes.toFixed(0)} minutes.

| | value |
|---|---|
| accuracy after round ${rounds}, proof path | ${pct(last.accuracy)} |
| accuracy after round ${rounds}, float FedAvg | ${pct(floatLast.accuracy)} |
| proof path − float | ${(gap * 100).toFixed(2)} points (target: within ${tolerance * 100}) |
| first round at ≥ ${target * 100} % (proof path) | ${reached ?? `not reached in ${rounds} rounds`} |
| wall time per round, proof path (median) | ${median.toFixed(1)} s |
| coordinator peak RSS | ${fl.coordinatorPeakRssMiB.toFixed(0)} MiB |
| largest client update norm (float run) | ${Math.max(...baseline.map((round) => round.maxUpdateNorm)).toFixed(2)} (clip τ = ${clipNorm}) |

| round | proof path | float FedAvg | loss (proof path) | loss (float) | seconds |
|---:|---:|---:|---:|---:|---:|
${summary.rounds.map((round) => `| ${round.round} | ${pct(round.accuracy)} | ${pct(round.floatAccuracy)} | ${round.loss!.toFixed(4)} | ${round.floatLoss.toFixed(4)} | ${round.seconds!.toFixed(1)} |`).join('\n')}
`;
writeFileSync(new URL(`./results/${name}.md`, import.meta.url), markdown);
process.stdout.write(markdown);
process.exit(0);
