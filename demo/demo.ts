/**
 * The demo: a coordinator in this process and N training clients as separate processes on loopback, over
 * Fashion-MNIST split non-IID (Dirichlet α) among them, for R rounds. Progress is reported through callbacks;
 * `zkfl demo` renders it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../common/log.js';
import type { ClientEvent } from '../client/client.js';
import type { CoordinatorEvents } from '../coordinator/events.js';
import { buildCircuit, terminateCurve } from '../circuits/build.js';
import { circuitParams } from '../circuits/params.js';
import { startCoordinator } from '../coordinator/server.js';
import { loadDataset, saveIdx } from '../ml/dataset.js';
import { dirichletPartition } from '../ml/partition.js';
import type { TaskSpecInput } from '../protocol/task-spec.js';
import { fashionMnist } from './fashion-mnist.js';

export interface DemoOptions {
  /** @default 4 */
  clients: number;
  /** @default 5 */
  rounds: number;
  /** Dirichlet concentration of the label skew. @default 0.5 */
  alpha: number;
  /** Seeds the split, the model and the sampling. @default 1 */
  seed: number;
  /** Directory holding the Fashion-MNIST IDX files. */
  dataDir: string;
  /** Where the coordinator keeps its state; a temporary directory (removed afterwards) when absent. */
  workDir?: string;
  /** Powers-of-tau file for the circuit setup, when the circuit is not built yet. */
  ptau?: string;
  /** Prove every update (the default); off only to measure what the proofs cost. */
  proofs?: boolean;
  onClientEvent?: (client: number, event: ClientEvent) => void;
  onRoundEnd?: (summary: CoordinatorEvents['round:end'][0]) => void;
  onStage?: (message: string) => void;
}

export interface DemoRound {
  round: number;
  accuracy: number;
  loss: number;
  participants: number;
  rejected: number;
  proofsVerified: number;
  proofsRejected: number;
}

export interface DemoResult {
  taskId: string;
  rounds: DemoRound[];
  /** Wall time of each round, from open to evaluated. */
  roundSeconds: number[];
  seconds: number;
}

const log = createLogger('demo');
const cliEntry = fileURLToPath(new URL('../bin/zkfl.js', import.meta.url));

/**
 * The task the demo creates: a small CNN (two conv + max-pool blocks of 4 and 10 filters, 2,724 parameters:
 * one 3150-value chunk, so one proof per client per round), all clients sampled every round.
 */
export function demoTask(
  options: Pick<DemoOptions, 'clients' | 'rounds' | 'seed' | 'proofs'>,
  testPrefix: string,
): TaskSpecInput {
  return {
    name: 'zkfl demo: Fashion-MNIST, non-IID',
    model: { preset: 'cnn', filters: [4, 10], hidden: [] },
    inputShape: [28, 28, 1],
    classes: 10,
    rounds: options.rounds,
    clientsPerRound: { min: Math.max(1, Math.ceil(options.clients / 2)), target: options.clients },
    training: { localEpochs: 1, batchSize: 32, learningRate: 0.01, optimizer: 'momentum' },
    roundDeadlineSeconds: 300,
    evaluation: { path: testPrefix },
    proofs: options.proofs ?? true,
    seed: options.seed,
  };
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const started = Date.now();
  const stage = (message: string): void => (options.onStage ?? ((text: string) => log.info(text)))(message);
  const { train, test } = fashionMnist(options.dataDir);
  const scratch = mkdtempSync(join(tmpdir(), 'zkfl-demo-'));
  const children: ChildProcess[] = [];
  try {
    stage(`splitting Fashion-MNIST among ${options.clients} clients (Dirichlet α = ${options.alpha})`);
    stage('circuit setup (cached after the first run)');
    await buildCircuit(circuitParams.default, { ptau: options.ptau, onProgress: stage });
    await terminateCurve();
    const trainSet = loadDataset(train);
    const shards = dirichletPartition(trainSet.labels, {
      clients: options.clients,
      alpha: options.alpha,
      seed: options.seed,
    });
    shards.forEach((shard, i) => saveIdx(join(scratch, `client-${i}`), trainSet, shard));

    const coordinator = await startCoordinator({ port: 0, dataDir: options.workDir ?? join(scratch, 'coordinator') });
    try {
      const task = await coordinator.coordinator.createTask(demoTask(options, test));
      stage(
        `task ${task.id}: ${task.numParams} parameters, ${options.rounds} rounds; starting ${options.clients} clients`,
      );
      const ended = new Promise<string>((resolve) =>
        coordinator.coordinator.events.on('task:end', (event) => event.taskId === task.id && resolve(event.status)),
      );
      coordinator.coordinator.events.on(
        'round:end',
        (summary) => summary.taskId === task.id && options.onRoundEnd?.(summary),
      );
      const exits = shards.map((_, i) => {
        const child = spawnClient(i, coordinator.url, task.id, scratch, options.onClientEvent);
        children.push(child);
        return child;
      });
      const failure = new Promise<never>((_, reject) =>
        exits.forEach((child, i) =>
          child.on('exit', (code) => {
            const tail = (child as ChildProcess & { lastLines?: string[] }).lastLines?.join('\n') ?? '';
            if (code !== 0) reject(new Error(`client ${i} exited with code ${code}:\n${tail}`));
          }),
        ),
      );
      const status = await Promise.race([ended, failure]);
      if (status !== 'completed') throw new Error(`task ${status}`);
      await Promise.all(
        exits.map(
          (child) => new Promise((resolve) => (child.exitCode === null ? child.on('exit', resolve) : resolve(null))),
        ),
      );
      const records = coordinator.coordinator.listRounds(task.id);
      const rounds = records.map((round) => ({
        round: round.round,
        accuracy: round.accuracy ?? Number.NaN,
        loss: round.loss ?? Number.NaN,
        participants: round.participants.length,
        rejected: round.rejected.length,
        proofsVerified: round.proofsVerified,
        proofsRejected: round.proofsRejected,
      }));
      const roundSeconds = records.map((round) => (Date.parse(round.closedAt!) - Date.parse(round.openedAt)) / 1000);
      return { taskId: task.id, rounds, roundSeconds, seconds: (Date.now() - started) / 1000 };
    } finally {
      await coordinator.close();
    }
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(scratch, { recursive: true, force: true });
  }
}

function spawnClient(
  index: number,
  url: string,
  taskId: string,
  scratch: string,
  onEvent: DemoOptions['onClientEvent'],
): ChildProcess {
  const dir = join(scratch, `client-${index}`);
  const args = [
    cliEntry,
    'client',
    '--coordinator',
    url,
    '--task',
    taskId,
    '--data',
    dir,
    '--key',
    `${dir}.key.json`,
    '--progress',
    'json',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      onEvent?.(index, JSON.parse(line) as ClientEvent);
    } catch {
      log.debug(`client ${index}: ${line}`);
    }
  });
  // Its log goes to debug; the last lines are kept to explain a failure.
  const lastLines: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    log.debug(`client ${index}: ${line}`);
    lastLines.push(line);
    if (lastLines.length > 20) lastLines.shift();
  });
  return Object.assign(child, { lastLines });
}
