/**
 * The demo: a local chain (`hardhat node`) with zkfl's contracts, a coordinator in this process and N training
 * clients as separate processes on loopback, over Fashion-MNIST split non-IID (Dirichlet α) among them, for R
 * rounds. The model owner (the chain's first account) escrows the reward pool; every client proves every update,
 * and after each round submits its contribution on-chain and claims its share. Progress is reported through
 * callbacks; `zkfl demo` renders it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { formatEther, parseEther } from 'ethers';
import { taskKey } from '../circuits/statement.js';
import { loadOrCreateWallet } from '../common/identity.js';
import { createLogger } from '../common/log.js';
import { writeDeployment } from '../contracts/deployment.js';
import { type Devnet, startDevnet } from '../contracts/devnet.js';
import { escrowTask } from '../contracts/escrow.js';
import { writeBundle } from '../verifier/bundle.js';
import { RewardsContract, TokenContract } from '../contracts/rewards.js';
import type { ClientEvent } from '../client/client.js';
import type { CoordinatorEvents } from '../coordinator/events.js';
import { buildCircuit, terminateCurve } from '../circuits/build.js';
import { circuitParams } from '../circuits/params.js';
import { startCoordinator } from '../coordinator/server.js';
import { loadDataset, saveIdx } from '../ml/dataset.js';
import { dirichletPartition } from '../ml/partition.js';
import type { TaskSpecInput } from '../protocol/task-spec.js';
import { fashionMnist } from './fashion-mnist.js';

/** The demo's models: a small CNN that proves in one chunk, or NIID-Bench's simple CNN (44,426 parameters). */
export const demoModels = ['demo-cnn', 'niid-cnn'] as const;
export type DemoModel = (typeof demoModels)[number];

export interface DemoOptions {
  /** @default 'demo-cnn' */
  model?: DemoModel;
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
  /** Prove every update (the default); off only to measure what the proofs cost (and then nothing is paid). */
  proofs?: boolean;
  /** Settle on a local chain (escrow, on-chain verification, claims). @default `proofs` */
  onchain?: boolean;
  /**
   * Create the task with public audit on and write its audit bundle here when it ends, with the deployment JSON
   * (deployment.json), for `zkfl verify --bundle DIR [--rpc … --deployment DIR/deployment.json]`. @default none
   */
  auditOut?: string;
  /** Token base units escrowed per round. @default 100 tokens (18 decimals) */
  rewardPerRound?: bigint;
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
  /** Contributions recorded on-chain for the round (proof and accepted-set membership verified there). */
  onchainContributions?: number;
  /**
   * Seconds each client spent proving its update this round (wall time, all its chunks), averaged over the clients
   * that proved; the demo's clients share this machine's cores, so this is what a client sees under that load.
   */
  provingSeconds?: number;
}

export interface DemoResult {
  taskId: string;
  rounds: DemoRound[];
  /** Each client's reward-token balance at the end, in token units (18 decimals), by address. */
  rewards?: Record<string, string>;
  /** Wall time of each round, from open to evaluated. */
  roundSeconds: number[];
  seconds: number;
}

const log = createLogger('demo');
const cliEntry = fileURLToPath(new URL('../bin/zkfl.js', import.meta.url));

/**
 * The task the demo creates, all clients sampled every round. `demo-cnn`: two conv + max-pool blocks of 4 and 10
 * filters, 2,724 parameters (one chunk: one proof per client per round). `niid-cnn`: NIID-Bench's simple CNN
 * (6 and 16 filters, dense 120 and 84), 44,426 parameters (8 chunks), trained as NIID-Bench does (batch 64).
 */
export function demoTask(
  options: Pick<DemoOptions, 'clients' | 'rounds' | 'seed' | 'proofs' | 'model'>,
  testPrefix: string,
): TaskSpecInput {
  const niid = options.model === 'niid-cnn';
  return {
    name: `zkfl demo: Fashion-MNIST, non-IID, ${options.model ?? 'demo-cnn'}`,
    model: niid ? { preset: 'cnn' } : { preset: 'cnn', filters: [4, 10], hidden: [] },
    inputShape: [28, 28, 1],
    classes: 10,
    rounds: options.rounds,
    clientsPerRound: { min: Math.max(1, Math.ceil(options.clients / 2)), target: options.clients },
    training: { localEpochs: 1, batchSize: niid ? 64 : 32, learningRate: 0.01, optimizer: 'momentum' },
    // Every client proves 8 chunks on the same 2 cores as the others.
    roundDeadlineSeconds: niid ? 1800 : 300,
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
  const deploymentFile = join(scratch, 'deployment.json');
  const children: ChildProcess[] = [];
  let devnet: Devnet | undefined;
  try {
    stage(`splitting Fashion-MNIST among ${options.clients} clients (Dirichlet α = ${options.alpha})`);
    stage('circuit setup (cached after the first run)');
    const artifacts = await buildCircuit(circuitParams.default, { ptau: options.ptau, onProgress: stage });
    await terminateCurve();
    const trainSet = loadDataset(train);
    const shards = dirichletPartition(trainSet.labels, {
      clients: options.clients,
      alpha: options.alpha,
      seed: options.seed,
    });
    shards.forEach((shard, i) => saveIdx(join(scratch, `client-${i}`), trainSet, shard));

    const onchain = options.onchain ?? options.proofs ?? true;
    if (onchain) {
      stage('starting a local chain (hardhat node) and deploying the contracts');
      devnet = await startDevnet([artifacts]);
      writeDeployment(deploymentFile, devnet.deployment);
    }
    const coordinator = await startCoordinator({
      port: 0,
      dataDir: options.workDir ?? join(scratch, 'coordinator'),
      ...(devnet ? { chain: { rpcUrl: devnet.chain.url, deployment: devnet.deployment } } : {}),
    });
    try {
      const publicAudit = options.auditOut !== undefined;
      const task = await coordinator.coordinator.createTask({ ...demoTask(options, test), onchain, publicAudit });
      const keys = shards.map((_, i) => join(scratch, `client-${i}.key.json`));
      if (devnet) {
        const rewardPerRound = options.rewardPerRound ?? parseEther('100');
        await devnet.fund(coordinator.coordinator.identity.address);
        for (const key of keys) await devnet.fund(loadOrCreateWallet(key).address);
        await devnet.mint(await devnet.owner.getAddress(), rewardPerRound * BigInt(options.rounds));
        await escrowTask(devnet.owner, devnet.deployment, task, {
          rewardPerRound,
          coordinator: coordinator.coordinator.identity.address,
        });
        stage(`escrowed ${formatEther(rewardPerRound * BigInt(options.rounds))} ZKR for task ${task.id}`);
      }
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
      const chainArgs = devnet ? ['--rpc', devnet.chain.url, '--deployment', deploymentFile] : [];
      const proving = new Map<number, number[]>();
      const onClientEvent = (client: number, event: ClientEvent): void => {
        if (event.type === 'proved') proving.set(event.round, [...(proving.get(event.round) ?? []), event.seconds]);
        options.onClientEvent?.(client, event);
      };
      const exits = shards.map((_, i) => {
        const child = spawnClient(
          i,
          [
            ...['--coordinator', coordinator.url, '--task', task.id],
            ...['--data', join(scratch, `client-${i}`), '--key', keys[i]!, ...chainArgs],
          ],
          onClientEvent,
        );
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
      const recorded = devnet ? await recordedPerRound(devnet, task.id) : undefined;
      const rounds = records.map((round) => ({
        round: round.round,
        accuracy: round.accuracy ?? Number.NaN,
        loss: round.loss ?? Number.NaN,
        participants: round.participants.length,
        rejected: round.rejected.length,
        proofsVerified: round.proofsVerified,
        proofsRejected: round.proofsRejected,
        ...(recorded ? { onchainContributions: recorded.get(round.round) ?? 0 } : {}),
        ...(proving.has(round.round) ? { provingSeconds: mean(proving.get(round.round)!) } : {}),
      }));
      const roundSeconds = records.map((round) => (Date.parse(round.closedAt!) - Date.parse(round.openedAt)) / 1000);
      const rewards = devnet ? await balances(devnet, keys) : undefined;
      if (options.auditOut) {
        writeBundle(options.auditOut, coordinator.coordinator.auditBundle(task.id));
        if (devnet) writeDeployment(join(options.auditOut, 'deployment.json'), devnet.deployment);
        stage(`audit bundle written to ${options.auditOut}`);
      }
      return {
        taskId: task.id,
        rounds,
        ...(rewards ? { rewards } : {}),
        roundSeconds,
        seconds: (Date.now() - started) / 1000,
      };
    } finally {
      await coordinator.close();
    }
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await devnet?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;

/** ContributionRecorded events of the task, counted by round. */
async function recordedPerRound(devnet: Devnet, taskId: string): Promise<Map<number, number>> {
  const rewards = new RewardsContract(devnet.deployment.rewards, devnet.provider);
  const counts = new Map<number, number>();
  for (const entry of await rewards.events('ContributionRecorded', taskKey(taskId))) {
    const round = Number(entry.args[1]);
    counts.set(round, (counts.get(round) ?? 0) + 1);
  }
  return counts;
}

/** Each client's reward-token balance, in token units. */
async function balances(devnet: Devnet, keys: string[]): Promise<Record<string, string>> {
  const token = new TokenContract(devnet.deployment.token, devnet.provider);
  const entries = await Promise.all(
    keys.map(async (key) => {
      const { address } = loadOrCreateWallet(key);
      return [address, formatEther(await token.balanceOf(address))] as const;
    }),
  );
  return Object.fromEntries(entries);
}

function spawnClient(index: number, clientArgs: string[], onEvent: DemoOptions['onClientEvent']): ChildProcess {
  const args = [cliEntry, 'client', ...clientArgs, '--progress', 'json'];
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
