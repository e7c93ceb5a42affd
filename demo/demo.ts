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
import { formatEther, parseEther, Wallet } from 'ethers';
import { taskKey } from '../circuits/statement.js';
import { keyAddress, saveWallet } from '../common/identity.js';
import { createLogger } from '../common/log.js';
import { writeDeployment } from '../contracts/deployment.js';
import { type Devnet, startDevnet } from '../contracts/devnet.js';
import { escrowTask } from '../contracts/escrow.js';
import { writeBundle } from '../verifier/bundle.js';
import { RewardsContract, TokenContract } from '../contracts/rewards.js';
import type { ClientEvent } from '../client/client.js';
import { OwnerSession } from '../client/owner.js';
import type { CoordinatorEvents } from '../coordinator/tasks/events.js';
import { buildCircuit, type CircuitArtifacts, terminateCurve } from '../circuits/build.js';
import { type CircuitParams, circuitFor } from '../circuits/params.js';
import { initBackend } from '../ml/backend.js';
import { buildModel } from '../ml/models.js';
import { countParams } from '../ml/weights.js';
import { type RunningCoordinator, startCoordinator } from '../coordinator/server.js';
import { loadDataset, saveIdx } from '../ml/dataset.js';
import { dirichletPartition } from '../ml/partition.js';
import type { TaskView } from '../protocol/rest.js';
import { bondsOf, parseTaskSpec, type TaskSpecInput } from '../protocol/task-spec.js';
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
  /** The reward rule's equal base share, in basis points. @default 0 */
  baseShareBps?: number;
  onClientEvent?: (client: number, event: ClientEvent) => void;
  onRoundEnd?: (summary: CoordinatorEvents['round:end'][0]) => void;
  onStage?: (message: string) => void;
  /** Called with the result while the coordinator and its dashboard are still up; the demo ends when it settles. */
  onResult?: (result: DemoResult) => Promise<void>;
}

export interface DemoRound {
  round: number;
  accuracy: number;
  loss: number;
  participants: number;
  rejected: number;
  proofsVerified: number;
  proofsRejected: number;
  /** Contributors paid on-chain for the round (claims of its leaves). */
  paidOnchain?: number;
  /**
   * Seconds each client spent proving its update this round (wall time, all its chunks), averaged over the clients
   * that proved; the demo's clients share this machine's cores, so this is what a client sees under that load.
   */
  provingSeconds?: number;
  /** Each accepted contributor's contribution score, by address. */
  scores: Record<string, number>;
  /** What each accepted contributor's leaf pays (token base units, decimal), by address. */
  amounts: Record<string, string>;
}

export interface DemoResult {
  taskId: string;
  rounds: DemoRound[];
  /** Each client's reward-token balance at the end, in token units (18 decimals), by address. */
  rewards?: Record<string, string>;
  /** Wall time of each round, from open to evaluated. */
  roundSeconds: number[];
  /** On-chain settlement's cost, from the demo's own transaction receipts. */
  settlement?: {
    /** Each contributor's claim transaction(s), divided by the rounds they paid, averaged over contributors. */
    gasPerContributorPerRound: number;
    /** The coordinator's openRound + closeRound per round. */
    coordinatorGasPerRound: number;
  };
  seconds: number;
  /** The task's page on the coordinator's dashboard (up only while the demo runs, or with `onResult` pending). */
  dashboardUrl: string;
}

const log = createLogger('demo');
const cliEntry = fileURLToPath(new URL('../bin/zkfl.js', import.meta.url));

/**
 * The task the demo creates, all clients sampled every round. `demo-cnn`: two conv + max-pool blocks of 4 and 10
 * filters, 2,724 parameters (one chunk: one proof per client per round). `niid-cnn`: NIID-Bench's simple CNN
 * (6 and 16 filters, dense 120 and 84), 44,426 parameters (6 chunks), trained as NIID-Bench does (batch 64).
 */
export function demoTask(
  options: Pick<DemoOptions, 'clients' | 'rounds' | 'seed' | 'proofs' | 'model' | 'rewardPerRound' | 'baseShareBps'>,
  evaluation: TaskSpecInput['evaluation'],
): TaskSpecInput {
  const niid = options.model === 'niid-cnn';
  return {
    name: `zkfl demo: Fashion-MNIST, non-IID, ${options.model ?? 'demo-cnn'}`,
    purpose: 'A demonstration: a clothing classifier trained on Fashion-MNIST shards; the model is discarded after.',
    rewards: {
      perRound: String(options.rewardPerRound ?? parseEther('100')),
      baseShareBps: options.baseShareBps ?? 0,
      // Short windows so the demo pays out within seconds of its last round.
      challengeWindowSeconds: 5,
      answerWindowSeconds: 5,
    },
    model: niid ? { preset: 'cnn' } : { preset: 'cnn', filters: [4, 10], hidden: [] },
    inputShape: [28, 28, 1],
    classes: 10,
    rounds: options.rounds,
    clientsPerRound: { min: Math.max(1, Math.ceil(options.clients / 2)), target: options.clients },
    training: { localEpochs: 1, batchSize: niid ? 64 : 32, learningRate: 0.01, optimizer: 'momentum' },
    // Every client proves 6 chunks on the same 2 cores as the others.
    roundDeadlineSeconds: niid ? 1800 : 300,
    evaluation,
    proofs: options.proofs ?? true,
    seed: options.seed,
  };
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const started = Date.now();
  const stage = (message: string): void => (options.onStage ?? ((text: string) => log.info(text)))(message);
  const scratch = mkdtempSync(join(tmpdir(), 'zkfl-demo-'));
  const children: ChildProcess[] = [];
  let devnet: Devnet | undefined;
  try {
    const { artifacts, shards } = await prepare(options, scratch, stage);
    if (options.onchain ?? options.proofs ?? true) {
      stage('starting a local chain (hardhat node) and deploying the contracts');
      devnet = await startDevnet([artifacts]);
      writeDeployment(join(scratch, 'deployment.json'), devnet.deployment);
    }
    const coordinator = await startCoordinator({
      port: 0,
      dataDir: options.workDir ?? join(scratch, 'coordinator'),
      // The local chain is the contributor page's too: nothing on it needs hiding.
      ...(devnet
        ? { chain: { rpcUrl: devnet.chain.url, deployment: devnet.deployment, publicRpcUrl: devnet.chain.url } }
        : {}),
    });
    try {
      const run: DemoRun = { options, stage, scratch, devnet, coordinator, children };
      const { task, keys } = await createDemoTask(run, shards.length);
      const proving = await trainWithClients(run, task, keys);
      const result = await demoResult(run, task, keys, proving, started);
      // With the coordinator (and its dashboard) still up: `zkfl demo --serve` keeps it so until Ctrl-C.
      await options.onResult?.(result);
      return result;
    } finally {
      await coordinator.close();
    }
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await devnet?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** What the demo's steps share while it runs. */
interface DemoRun {
  options: DemoOptions;
  stage: (message: string) => void;
  /** The demo's scratch directory: shards, keys, the deployment file; deleted at the end. */
  scratch: string;
  devnet: Devnet | undefined;
  coordinator: RunningCoordinator;
  /** The client processes, killed at the end if still running. */
  children: ChildProcess[];
}

/** The circuit (set up, or taken from the cache) and the clients' shards, written to the scratch directory. */
async function prepare(
  options: DemoOptions,
  scratch: string,
  stage: (message: string) => void,
): Promise<{ artifacts: CircuitArtifacts; shards: number[][] }> {
  const { train } = fashionMnist(options.dataDir);
  stage(`splitting Fashion-MNIST among ${options.clients} clients (Dirichlet α = ${options.alpha})`);
  stage('circuit setup (cached after the first run)');
  const artifacts = await buildCircuit(await demoCircuit(options), { ptau: options.ptau, onProgress: stage });
  await terminateCurve();
  const trainSet = loadDataset(train);
  const shards = dirichletPartition(trainSet.labels, {
    clients: options.clients,
    alpha: options.alpha,
    seed: options.seed,
  });
  shards.forEach((shard, i) => saveIdx(join(scratch, `client-${i}`), trainSet, shard));
  return { artifacts, shards };
}

/** The owner signs in and creates the task (escrowing its pool with a chain); throwaway keys for the clients. */
async function createDemoTask(run: DemoRun, clients: number): Promise<{ task: TaskView; keys: string[] }> {
  const { options, stage, scratch, devnet, coordinator } = run;
  const onchain = devnet !== undefined;
  // The owner signs in as any owner would: Hardhat's account 0 with a chain (it escrows the pool), a throwaway
  // key without one.
  const owner = await OwnerSession.open(coordinator.url, devnet?.owner ?? Wallet.createRandom());
  const { upload } = await owner.upload(fashionMnist(options.dataDir).test);
  const publicAudit = options.auditOut !== undefined;
  const task = await owner.createTask({ ...demoTask(options, { upload }), onchain, publicAudit });
  // Throwaway keys, stored unencrypted in the demo's scratch directory and deleted with it.
  const keys = Array.from({ length: clients }, (_, i) => join(scratch, `client-${i}.key.json`));
  for (const key of keys) saveWallet(key, new Wallet(Wallet.createRandom().privateKey));
  stage(`throwaway keys for the owner, the coordinator and ${keys.length} clients (unencrypted, deleted at the end)`);
  if (devnet) await fundAndEscrow(run, devnet, task, keys);
  return { task, keys };
}

/**
 * Throwaway keys on a throwaway chain: the coordinator's and the clients' get ETH for gas, the coordinator its
 * bond in reward tokens, the owner (Hardhat's account 0) the pool, which it escrows.
 */
async function fundAndEscrow(run: DemoRun, devnet: Devnet, task: TaskView, keys: string[]): Promise<void> {
  const deposit = BigInt(task.spec.rewards.perRound) * BigInt(run.options.rounds);
  const coordinatorAddress = run.coordinator.coordinator.identity.address;
  await devnet.fund(coordinatorAddress);
  await devnet.mint(coordinatorAddress, bondsOf(task.spec.rewards, task.zk.chunks).coordinatorBond);
  for (const key of keys) await devnet.fund(keyAddress(key));
  await devnet.mint(await devnet.owner.getAddress(), deposit);
  await escrowTask(devnet.owner, devnet.deployment, task, { coordinator: coordinatorAddress });
  run.stage(`escrowed ${formatEther(deposit)} ZKR for task ${task.id}`);
}

/**
 * Runs one `zkfl client` process per key until the task completes and every client has exited (a client that
 * fails fails the demo); answers the seconds each round's proofs took, per client.
 */
async function trainWithClients(run: DemoRun, task: TaskView, keys: string[]): Promise<Map<number, number[]>> {
  const { options, stage, scratch, devnet, coordinator, children } = run;
  stage(`task ${task.id}: ${task.numParams} parameters, ${options.rounds} rounds; starting ${options.clients} clients`);
  stage(`watch it live: ${coordinator.url}/#/tasks/${task.id}`);
  const { events } = coordinator.coordinator;
  const ended = new Promise<string>((resolve) =>
    events.on('task:end', (event) => event.taskId === task.id && resolve(event.status)),
  );
  events.on('round:end', (summary) => summary.taskId === task.id && options.onRoundEnd?.(summary));
  const chainArgs = devnet ? ['--rpc', devnet.chain.url, '--deployment', join(scratch, 'deployment.json')] : [];
  const proving = new Map<number, number[]>();
  const onClientEvent = (client: number, event: ClientEvent): void => {
    if (event.type === 'proved') proving.set(event.round, [...(proving.get(event.round) ?? []), event.seconds]);
    options.onClientEvent?.(client, event);
  };
  const exits = keys.map((key, i) => {
    const flags = ['--coordinator', coordinator.url, '--task', task.id, '--data', join(scratch, `client-${i}`)];
    const child = spawnClient(i, [...flags, '--key', key, '--accept-terms', ...chainArgs], onClientEvent);
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
  return proving;
}

/** The finished run as the demo reports it: each round's record, what was paid, and its audit bundle if asked. */
async function demoResult(
  run: DemoRun,
  task: TaskView,
  keys: string[],
  proving: Map<number, number[]>,
  started: number,
): Promise<DemoResult> {
  const { options, stage, devnet, coordinator } = run;
  const records = await coordinator.coordinator.listRounds(task.id);
  const paid = devnet ? await claimsPerRound(devnet, task.id) : undefined;
  const rounds = records.map((round) => ({
    round: round.round,
    accuracy: round.accuracy ?? Number.NaN,
    loss: round.loss ?? Number.NaN,
    participants: round.participants.length,
    rejected: round.rejected.length,
    proofsVerified: round.proofsVerified,
    proofsRejected: round.proofsRejected,
    ...(paid ? { paidOnchain: paid.get(round.round) ?? 0 } : {}),
    ...(proving.has(round.round) ? { provingSeconds: mean(proving.get(round.round)!) } : {}),
    scores: Object.fromEntries(round.participants.map((p) => [p.address, p.score ?? 0])),
    amounts: Object.fromEntries(round.participants.map((p) => [p.address, p.amount ?? '0'])),
  }));
  if (options.auditOut) {
    writeBundle(options.auditOut, await coordinator.coordinator.auditBundle(task.id));
    if (devnet) writeDeployment(join(options.auditOut, 'deployment.json'), devnet.deployment);
    stage(`audit bundle written to ${options.auditOut}`);
  }
  const rewards = devnet ? await balances(devnet, keys) : undefined;
  return {
    taskId: task.id,
    rounds,
    ...(rewards ? { rewards } : {}),
    ...(devnet ? { settlement: await settlementGas(devnet, task.id, keys) } : {}),
    roundSeconds: records.map((round) => (Date.parse(round.closedAt!) - Date.parse(round.openedAt)) / 1000),
    seconds: (Date.now() - started) / 1000,
    dashboardUrl: `${coordinator.url}/#/tasks/${task.id}`,
  };
}

const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;

/** The gas of the demo's settlement transactions, from their receipts. */
async function settlementGas(
  devnet: Devnet,
  taskId: string,
  keys: string[],
): Promise<NonNullable<DemoResult['settlement']>> {
  const rewards = new RewardsContract(devnet.deployment.rewards, devnet.provider);
  const key = taskKey(taskId);
  const gasOf = async (hash: string): Promise<bigint> => (await devnet.provider.getTransactionReceipt(hash))!.gasUsed;
  const claims = await rewards.events('RewardClaimed', key);
  const perContributor = await Promise.all(
    keys.map(async (file) => {
      const address = keyAddress(file);
      const mine = claims.filter((log) => (log.args[2] as string).toLowerCase() === address.toLowerCase());
      const transactions = [...new Set(mine.map((log) => log.transactionHash))];
      const gas = (await Promise.all(transactions.map(gasOf))).reduce((sum, value) => sum + value, 0n);
      return mine.length === 0 ? undefined : Number(gas) / mine.length;
    }),
  );
  const paid = perContributor.filter((value): value is number => value !== undefined);
  const coordinatorTxs = [
    ...(await rewards.events('RoundOpened', key)),
    ...(await rewards.events('RoundClosed', key)),
  ].map((log) => log.transactionHash);
  const coordinatorGas = (await Promise.all(coordinatorTxs.map(gasOf))).reduce((sum, value) => sum + value, 0n);
  const rounds = (await rewards.events('RoundClosed', key)).length;
  return {
    gasPerContributorPerRound: paid.length ? mean(paid) : 0,
    coordinatorGasPerRound: rounds ? Number(coordinatorGas) / rounds : 0,
  };
}

/** The circuit the coordinator will prove the demo's task with (the default family's best fit for its model). */
async function demoCircuit(options: DemoOptions): Promise<CircuitParams> {
  await initBackend();
  const spec = parseTaskSpec(demoTask(options, { path: 'unused' }));
  const model = await buildModel(spec.model, spec.inputShape, spec.classes, spec.seed);
  const numParams = countParams(model);
  model.dispose();
  return circuitFor('default', spec.quantization.bits, numParams);
}

/** RewardClaimed events of the task, counted by round. */
async function claimsPerRound(devnet: Devnet, taskId: string): Promise<Map<number, number>> {
  const rewards = new RewardsContract(devnet.deployment.rewards, devnet.provider);
  const counts = new Map<number, number>();
  for (const entry of await rewards.events('RewardClaimed', taskKey(taskId))) {
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
      const address = keyAddress(key);
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
