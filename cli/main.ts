/**
 * `zkfl`: a thin shell over the libraries — parse arguments, call, print. Output meant for machines goes to
 * stdout; logs and progress go to stderr.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatEther, isAddress, parseEther, Wallet } from 'ethers';
import { buildCircuit, loadCircuit, terminateCurve } from '../circuits/build.js';
import { keyAddress, loadOrCreateWallet, loadWallet, saveWallet, setKeystoreCost } from '../common/identity.js';
import { connectRpc } from '../contracts/chain.js';
import { type Deployment, readDeployment, writeDeployment } from '../contracts/deployment.js';
import { startDevnet } from '../contracts/devnet.js';
import { escrowShortfall, escrowTask } from '../contracts/escrow.js';
import { revertName } from '../contracts/rewards.js';
import { auditRun } from '../verifier/run.js';
import { fetchBundle, readBundle, writeBundle } from '../verifier/bundle.js';
import { type CircuitName, circuitFor, circuitParams, defaultSetup } from '../circuits/params.js';
import { modelSize } from '../ml/model-size.js';
import { type ClientEvent, runClient } from '../client/client.js';
import { OwnerSession } from '../client/owner.js';
import { isLogLevel, setLogLevel } from '../common/log.js';
import { startCoordinator } from '../coordinator/server.js';
import { startVerificationWorker } from '../coordinator/tasks/verification-queue.js';
import { type CoordinatorOptions, defaultCoordinatorOptions, limitsFileSchema } from '../coordinator/options.js';
import { parseOrThrow } from '../protocol/validate.js';
import { type DemoModel, demoModels, type DemoResult, runDemo } from '../demo/demo.js';
import { defaultFashionMnistDir } from '../demo/fashion-mnist.js';
import { backendNames, type BackendName } from '../ml/backend.js';
import { ZkflError } from '../protocol/errors.js';
import { CoordinatorApi } from '../protocol/api.js';
import type { RoundView, TaskView } from '../protocol/rest.js';
import { parseTaskSpec, type TaskSpecInput } from '../protocol/task-spec.js';
import type { TermsView } from '../protocol/terms.js';
import { fixed, percent, ProgressDisplay, renderTerms, table } from './render.js';
import { createInterface } from 'node:readline/promises';

const usage = `zkfl — federated learning with proofs of every contribution

  zkfl key new|address --key FILE [--password-file FILE]
  zkfl key import --from PLAINTEXT_KEY --key FILE [--password-file FILE]
  zkfl setup [--circuit default|default15|default8|default16|test|test8|test16|bench630|bench2520[,…] | --task task.json]
             [--ptau FILE] [--force]
  zkfl chain [--port 8545] [--deployment FILE] [--circuits NAME[,…]] [--fund ADDR[,ADDR…] [--eth 10] [--tokens 1000]]
  zkfl coordinator [--host H] [--port P] [--data-dir DIR] [--database postgres://…] [--redis redis://…] [--lease-seconds S]
                   [--public-url URL[,URL…]] [--data-root DIR] [--owners ADDR,…] [--limits FILE] [--max-payload-mb N]
                   [--circuit default|test] [--verify-timeout-seconds S]
                   [--key FILE] [CHAIN]
  zkfl worker --redis redis://… [--concurrency N] [--lock-seconds S]
  zkfl task create --config task.json --key FILE [--evaluation PATH] [--coordinator URL] [--escrow CHAIN]
  zkfl task escrow --task ID --key FILE [--coordinator URL] CHAIN
  zkfl task cancel --task ID --key FILE [--coordinator URL]
  zkfl task show --task ID [--coordinator URL] [--json]
  zkfl task model --task ID --out DIR [--round R] [--coordinator URL]
  zkfl client --coordinator URL --task ID --data PATH [--key FILE] [--accept-terms] [--backend tensorflow|wasm|cpu]
              [--progress bar|json|none] [CHAIN]
  zkfl demo [--model demo-cnn|niid-cnn] [--clients N] [--rounds R] [--alpha A] [--seed S] [--audit-out DIR] [--json]
            [--serve]
  zkfl audit export --task ID --out DIR [--coordinator URL]
  zkfl verify (--task ID [--coordinator URL] | --bundle DIR) [--rpc URL --deployment FILE] [--json]

CHAIN is --rpc URL --deployment FILE: where tasks created with "onchain": true settle ("zkfl chain" starts a local
one and writes its deployment file; --fund gives the accounts named ETH for gas and reward tokens). "task create
--escrow" escrows the spec's rewards.perRound × rounds from the key's account. A client shows the task's terms and
trains only after you agree (--accept-terms agrees without asking, for unattended runs).

"task create" signs in as the owner of --key (Sign-In with Ethereum) and uploads --evaluation (a CSV file, an IDX
prefix or a directory) as the task's evaluation set; without it, the spec's evaluation.path names data under the
coordinator's --data-root. A coordinator started with --owners takes tasks from those addresses only; without it,
from anyone who signs in, up to 5 running tasks each.

Keys (--key) are encrypted keystores unlocked by --password-file FILE or ZKFL_PASSWORD; a key created where
none exists is encrypted with that password, or stored plaintext (with a warning) without one.
Every command takes --log-level debug|info|warn|error|silent (default info, or ZKFL_LOG_LEVEL).
--ptau defaults to ZKFL_PTAU; without either, setup downloads the public Hermez file or runs a dev ceremony.
--coordinator defaults to ZKFL_COORDINATOR or http://127.0.0.1:8080.`;

const common = {
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = Record<string, string | boolean | undefined>;

function parse(args: string[], options: Record<string, { type: 'string' | 'boolean' }>): Values {
  return parseArgs({ args, options: { ...common, ...options }, strict: true, allowPositionals: false }).values;
}

function required(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '')
    throw new ZkflError('VALIDATION_FAILED', `--${name} is required`, name);
  return value;
}

function integer(values: Values, name: string, fallback: number, min = 1): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new ZkflError('VALIDATION_FAILED', `--${name} must be an integer ≥ ${min}`, name);
  return value;
}

const chainOptions = { rpc: { type: 'string' }, deployment: { type: 'string' } } as const;

/** A token or ether amount such as 100 or 0.5, in base units (18 decimals). */
function tokenAmount(values: Values, name: string, fallback: string): bigint {
  try {
    return parseEther((values[name] as string | undefined) ?? fallback);
  } catch {
    throw new ZkflError('VALIDATION_FAILED', `--${name} must be an amount such as 100 or 0.5`, name);
  }
}

/** --rpc and --deployment, both or neither. */
function chainFrom(values: Values): { rpcUrl: string; deployment: Deployment } | undefined {
  if (values.rpc === undefined && values.deployment === undefined) return undefined;
  const path = required(values, 'deployment');
  let deployment: Deployment;
  try {
    deployment = readDeployment(path);
  } catch (error) {
    throw new ZkflError('VALIDATION_FAILED', `cannot read ${path}: ${(error as Error).message}`, 'deployment');
  }
  return { rpcUrl: (values.rpc as string | undefined) ?? deployment.rpcUrl ?? required(values, 'rpc'), deployment };
}

/** The password that unlocks (or encrypts) keys: `--password-file`, else ZKFL_PASSWORD. */
function password(values: Values): string | undefined {
  const file = values['password-file'] as string | undefined;
  if (file === undefined) return process.env.ZKFL_PASSWORD;
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw new ZkflError('VALIDATION_FAILED', `cannot read ${file}: ${(error as Error).message}`, 'password-file');
  }
}

const keyOptions = { key: { type: 'string' }, 'password-file': { type: 'string' } } as const;

function coordinatorUrl(values: Values): string {
  return (
    (values.coordinator as string | undefined) ??
    process.env.ZKFL_COORDINATOR ??
    'http://127.0.0.1:8080'
  ).replace(/\/$/, '');
}

/** `--circuit a,b`: circuit names, each checked. */
function circuitNames(list: string, flag: string): CircuitName[] {
  const names = list.split(',');
  for (const name of names) {
    if (!(name in circuitParams)) {
      throw new ZkflError(
        'VALIDATION_FAILED',
        `--${flag}: ${name} is not one of ${Object.keys(circuitParams).join(', ')}`,
        flag,
      );
    }
  }
  return names as CircuitName[];
}

/** `--task task.json`: the circuit of the default family that the coordinator will prove that task with. */
function circuitOfSpec(path: string): CircuitName {
  const spec = parseTaskSpec(readJson(path, 'task'));
  const { params } = modelSize(spec.model, spec.inputShape, spec.classes);
  const chosen = circuitFor('default', spec.quantization.bits, params);
  return (Object.keys(circuitParams) as CircuitName[]).find((name) => circuitParams[name].name === chosen.name)!;
}

async function setupCommand(args: string[]): Promise<void> {
  const values = parse(args, {
    circuit: { type: 'string' },
    task: { type: 'string' },
    ptau: { type: 'string' },
    force: { type: 'boolean' },
  });
  const names =
    values.task !== undefined
      ? [circuitOfSpec(values.task as string)]
      : values.circuit !== undefined
        ? circuitNames(values.circuit as string, 'circuit')
        : defaultSetup;
  try {
    for (const name of names) {
      const artifacts = await buildCircuit(circuitParams[name], {
        ptau: (values.ptau as string | undefined) ?? process.env.ZKFL_PTAU,
        force: values.force === true,
      });
      const { manifest } = artifacts;
      process.stdout.write(
        `${manifest.circuit}: ${manifest.constraints} constraints, ptau ${manifest.ptau.origin}${manifest.warning ? ` (${manifest.warning})` : ''}\n  ${artifacts.dir}\n`,
      );
    }
  } finally {
    await terminateCurve();
  }
}

/** The JSON in the file a flag (`--<flag> FILE`) names. */
function readJson(path: string, flag: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ZkflError('VALIDATION_FAILED', `cannot read ${path} as JSON: ${(error as Error).message}`, flag);
  }
}

/** `--limits FILE`: the operator's limits (coordinator/options.ts limitsFileSchema). */
function limitsFrom(path: string): Partial<CoordinatorOptions> {
  const json = readJson(path, 'limits');
  const { task, rate, rejections } = parseOrThrow(limitsFileSchema, json, `limits file ${path}`);
  return {
    ...(task ? { limits: task } : {}),
    ...(rate ? { rateLimits: rate } : {}),
    ...(rejections ? { rejectionLimits: rejections } : {}),
  };
}

/** `--public-url URL[,URL…]`: http(s) origins the coordinator is reached at. */
function publicUrlsFrom(list: string | undefined): string[] | undefined {
  if (list === undefined) return undefined;
  return list.split(',').map((url) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol)) {
      throw new ZkflError('VALIDATION_FAILED', `--public-url: ${url} is not an http(s) URL`, 'public-url');
    }
    return parsed.origin;
  });
}

async function coordinatorCommand(args: string[]): Promise<void> {
  const values = parse(args, {
    host: { type: 'string' },
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    database: { type: 'string' },
    redis: { type: 'string' },
    'lease-seconds': { type: 'string' },
    circuit: { type: 'string' },
    'data-root': { type: 'string' },
    owners: { type: 'string' },
    limits: { type: 'string' },
    'max-payload-mb': { type: 'string' },
    'public-url': { type: 'string' },
    'verify-timeout-seconds': { type: 'string' },
    ...keyOptions,
    ...chainOptions,
  });
  const chain = chainFrom(values);
  const publicUrls = publicUrlsFrom(values['public-url'] as string | undefined);
  const owners = ((values.owners as string | undefined) ?? '').split(',').filter(Boolean);
  const notAddress = owners.find((owner): boolean => !isAddress(owner));
  if (notAddress !== undefined)
    throw new ZkflError('VALIDATION_FAILED', `--owners: ${notAddress} is not an address`, 'owners');
  const circuit = (values.circuit as string | undefined) ?? defaultCoordinatorOptions.circuit;
  if (circuit !== 'default' && circuit !== 'test')
    throw new ZkflError('VALIDATION_FAILED', `--circuit: ${circuit} is not default or test`, 'circuit');
  const running = await startCoordinator({
    circuit,
    ...(chain ? { chain } : {}),
    ...(values.key ? { keyFile: values.key as string } : {}),
    ...(password(values) !== undefined ? { keyPassword: password(values) } : {}),
    ...(owners.length > 0 ? { owners } : {}),
    ...(publicUrls ? { publicUrls } : {}),
    ...(values['data-root'] ? { dataRoot: values['data-root'] as string } : {}),
    ...(values.database ? { database: values.database as string } : {}),
    ...(values.redis ? { redis: values.redis as string } : {}),
    ...(values['lease-seconds'] ? { leaseSeconds: integer(values, 'lease-seconds', 10, 1) } : {}),
    ...(values.limits ? limitsFrom(values.limits as string) : {}),
    host: (values.host as string | undefined) ?? defaultCoordinatorOptions.host,
    port: integer(values, 'port', defaultCoordinatorOptions.port, 0),
    dataDir: (values['data-dir'] as string | undefined) ?? defaultCoordinatorOptions.dataDir,
    maxPayloadBytes: integer(values, 'max-payload-mb', defaultCoordinatorOptions.maxPayloadBytes / 2 ** 20) * 2 ** 20,
    verifyTimeoutMs:
      integer(values, 'verify-timeout-seconds', defaultCoordinatorOptions.verifyTimeoutMs / 1000, 1) * 1000,
  });
  process.stdout.write(`listening ${running.url}\n`);
  process.stderr.write(
    `coordinator ${running.coordinator.identity.address}${chain ? ` settling on chain ${chain.deployment.chainId} (${chain.rpcUrl})` : ''}\n` +
      `dashboard ${running.url}/\n`,
  );
  const shutdown = (): void => void running.close().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

/** `zkfl worker`: verifies proofs from a coordinator's queue (`zkfl coordinator --redis`) until stopped. */
async function workerCommand(args: string[]): Promise<void> {
  const values = parse(args, {
    redis: { type: 'string' },
    concurrency: { type: 'string' },
    'lock-seconds': { type: 'string' },
  });
  const worker = await startVerificationWorker({
    redisUrl: required(values, 'redis'),
    concurrency: integer(values, 'concurrency', 1, 1),
    lockSeconds: integer(values, 'lock-seconds', 10, 1),
  });
  process.stderr.write(`verifying proofs from ${required(values, 'redis')}\n`);
  // A worker finishes its jobs before it exits, but not forever: with Redis away, closing would wait for it.
  const shutdown = (): void => {
    setTimeout(() => process.exit(0), 10_000).unref();
    void worker.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

function roundRows(rounds: RoundView[]): Array<Array<string | number>> {
  return rounds.map((round) => [
    round.round,
    round.phase,
    percent(round.accuracy),
    fixed(round.loss),
    round.sampled,
    round.answered,
    round.dropped ?? '-',
    round.participants.length,
    round.rejected.length + round.rejectedUnlisted,
    round.proofsVerified,
    round.proofsRejected,
    round.verifySeconds.toFixed(2),
  ]);
}

async function taskCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const values = parse(rest, {
    coordinator: { type: 'string' },
    config: { type: 'string' },
    task: { type: 'string' },
    out: { type: 'string' },
    round: { type: 'string' },
    json: { type: 'boolean' },
    escrow: { type: 'boolean' },
    ...keyOptions,
    evaluation: { type: 'string' },
    ...chainOptions,
  });
  const base = coordinatorUrl(values);
  const api = new CoordinatorApi(base);
  if (sub === 'create') {
    let spec = readJson(required(values, 'config'), 'config') as TaskSpecInput;
    // Funds first: a task created without the means to pay would wait for an escrow that never comes.
    if (values.escrow) await checkEscrowFunds(values, spec);
    const owner = await OwnerSession.open(base, loadOrCreateWallet(required(values, 'key'), password(values)));
    if (values.evaluation !== undefined) {
      const upload = await owner.upload(values.evaluation as string);
      process.stderr.write(`uploaded ${upload.count} evaluation examples (${upload.bytes} bytes): ${upload.upload}\n`);
      spec = {
        ...spec,
        evaluation: { upload: upload.upload, ...(spec.evaluation?.limit ? { limit: spec.evaluation.limit } : {}) },
      };
    }
    const task = await owner.createTask(spec);
    process.stdout.write(`${task.id}\n`);
    if (values.escrow) await escrowCommand(values, api, task);
  } else if (sub === 'escrow') {
    const task = await api.task(required(values, 'task'));
    await checkEscrowFunds(values, task.spec);
    await escrowCommand(values, api, task);
  } else if (sub === 'cancel') {
    const owner = await OwnerSession.open(base, loadOrCreateWallet(required(values, 'key'), password(values)));
    const task = await owner.cancelTask(required(values, 'task'));
    process.stdout.write(`${task.id} ${task.status}\n`);
  } else if (sub === 'show') {
    const id = required(values, 'task');
    const [task, rounds] = await Promise.all([api.task(id), api.rounds(id)]);
    if (values.json) {
      process.stdout.write(JSON.stringify({ task, rounds }, null, 2) + '\n');
      return;
    }
    process.stdout.write(
      `${task.id} "${task.spec.name}": ${task.status}${task.reason ? ` (${task.reason})` : ''}, round ${task.currentRound} of ${task.spec.rounds}, ${task.numParams} parameters\n\n`,
    );
    process.stdout.write(
      table(
        [
          'round',
          'phase',
          'accuracy',
          'loss',
          'sampled',
          'answered',
          'dropped',
          'accepted',
          'rejected',
          'proofs ok',
          'proofs bad',
          'verify s',
        ],
        roundRows(rounds),
      ) + '\n',
    );
    for (const round of rounds) {
      for (const rejection of round.rejected) {
        process.stdout.write(
          `round ${round.round}: rejected ${rejection.address}: ${rejection.code} ${rejection.reason}\n`,
        );
      }
      if (round.rejectedUnlisted > 0) {
        process.stdout.write(`round ${round.round}: ${round.rejectedUnlisted} more rejected, not listed\n`);
      }
    }
  } else if (sub === 'model') {
    const id = required(values, 'task');
    const out = required(values, 'out');
    const which = values.round === undefined ? 'latest' : integer(values, 'round', 0, 0);
    const modelJson = await api.modelJson(id, which);
    const weights = await api.weights(id, which);
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'model.json'), JSON.stringify(modelJson));
    writeFileSync(join(out, 'weights.bin'), weights);
    process.stdout.write(`${join(out, 'model.json')}\n`);
  } else {
    throw new ZkflError('VALIDATION_FAILED', 'expected `zkfl task create|escrow|cancel|show|model`', 'command');
  }
}

/** `task create --escrow`: the model owner escrows the new task's reward pool from its key's account. */
/** The owner's key on the chain the flags name, and that chain's deployment. */
function escrowingOwner(values: Values): { owner: Wallet; deployment: Deployment } {
  const chain = chainFrom(values);
  if (!chain) throw new ZkflError('VALIDATION_FAILED', 'an escrow needs --rpc and --deployment', 'deployment');
  const owner = loadOrCreateWallet(required(values, 'key'), password(values));
  return { owner: owner.connect(connectRpc(chain.rpcUrl, chain.deployment.chainId)), deployment: chain.deployment };
}

/** Refuses, saying what to fund and how, when the owner's key cannot pay the spec's pool and the gas. */
async function checkEscrowFunds(values: Values, spec: TaskSpecInput): Promise<void> {
  const { owner, deployment } = escrowingOwner(values);
  const deposit = BigInt(spec.rewards?.perRound ?? '0') * BigInt(spec.rounds);
  if (deposit === 0n) {
    throw new ZkflError(
      'VALIDATION_FAILED',
      'the spec pays nothing to escrow: set rewards.perRound',
      'rewards.perRound',
    );
  }
  const shortfall = await escrowShortfall(owner, deployment, deposit);
  if (shortfall) {
    throw new ZkflError(
      'UNAVAILABLE',
      `${shortfall}: send them to ${owner.address} (on a local chain: \`npx zkfl chain --fund ${owner.address}\`), then run this again`,
      'key',
    );
  }
}

async function escrowCommand(values: Values, api: CoordinatorApi, task: TaskView): Promise<void> {
  const { owner, deployment } = escrowingOwner(values);
  const { coordinator } = await api.info();
  try {
    await escrowTask(owner, deployment, task, { coordinator });
  } catch (error) {
    const why = revertName(error) ?? (error as { shortMessage?: string }).shortMessage ?? (error as Error).message;
    throw new ZkflError(
      'UNAVAILABLE',
      `task ${task.id} was created, but its escrow failed (${why}): escrow it with \`npx zkfl task escrow --task ${task.id}\` and the same key and chain`,
    );
  }
  const deposit = BigInt(task.spec.rewards.perRound) * BigInt(task.spec.rounds);
  process.stderr.write(`escrowed ${formatEther(deposit)} tokens for ${task.id} from ${owner.address}\n`);
}

/** `zkfl audit export`: a task's audit bundle from the coordinator's public API, into a directory. */
async function auditCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const values = parse(rest, { coordinator: { type: 'string' }, task: { type: 'string' }, out: { type: 'string' } });
  if (sub !== 'export') throw new ZkflError('VALIDATION_FAILED', 'usage: zkfl audit export --task ID --out DIR');
  const bundle = await fetchBundle(coordinatorUrl(values), required(values, 'task'));
  const out = required(values, 'out');
  writeBundle(out, bundle);
  process.stdout.write(`${out}\n`);
  process.stderr.write(`${bundle.rounds.length} signed round records of ${bundle.task.id}\n`);
}

/** `zkfl verify`: audits a run from a bundle or a coordinator, optionally against the chain; exit 0 only if clean. */
async function verifyCommand(args: string[]): Promise<void> {
  const values = parse(args, {
    coordinator: { type: 'string' },
    task: { type: 'string' },
    bundle: { type: 'string' },
    json: { type: 'boolean' },
    ...chainOptions,
  });
  const bundle =
    values.bundle !== undefined
      ? readBundle(values.bundle as string)
      : await fetchBundle(coordinatorUrl(values), required(values, 'task'));
  const chain = chainFrom(values);
  const display = values.json ? undefined : new ProgressDisplay();
  try {
    const report = await auditRun(bundle, {
      ...(chain
        ? { chain: { provider: connectRpc(chain.rpcUrl, chain.deployment.chainId), deployment: chain.deployment } }
        : {}),
      onProgress: (done, total) => display?.update('verify', 'proofs', done, total, `${done}/${total} verified`),
    });
    display?.stop();
    if (values.json) {
      process.stdout.write(JSON.stringify(report) + '\n');
    } else {
      process.stdout.write(
        table(
          [
            'round',
            'accepted',
            'rejected',
            'proofs verified',
            'model after',
            'owed (ZKR)',
            'paid on-chain (ZKR)',
            'challenges',
            'voided',
            'omission claims',
          ],
          report.rounds.map((round) => [
            round.round,
            round.accepted,
            round.rejected,
            round.proofsVerified,
            round.modelHashAfter.slice(0, 12),
            formatEther(round.owed),
            round.onchain ? `${formatEther(round.onchain.paidAmount)} (${round.onchain.paid})` : '-',
            round.onchain?.challenges ?? '-',
            round.onchain?.voided ?? '-',
            round.onchain?.omissions ?? '-',
          ]),
        ) + '\n\n',
      );
      process.stdout.write(
        report.scores === 'recomputed'
          ? 'scores: recomputed from the published updates and scoring set\n'
          : "scores: the coordinator's signed word (updates are private). Checked: the scored updates are the proven," +
              ' accepted ones; amounts follow the reward rule from the scores; nobody is paid more than its leaf.\n',
      );
      for (const problem of report.problems) {
        process.stdout.write(
          `${problem.round === null ? 'task' : `round ${problem.round}`}: ${problem.kind}: ${problem.detail}\n`,
        );
      }
      process.stdout.write(
        `${report.ok ? 'OK' : 'FAILED'}: ${report.taskId}, ${report.rounds.length} rounds, ${report.proofs.verified} proofs` +
          ` (${report.proofs.perSecond.toFixed(1)}/s), ${report.problems.length} problems` +
          `${report.chainChecked ? ', chain checked' : ', chain not checked (give --rpc and --deployment)'}\n`,
      );
    }
    if (!report.ok) process.exitCode = 1;
  } finally {
    display?.stop();
  }
}

/** `zkfl chain`: a local chain with zkfl deployed, until interrupted. */
async function chainCommand(args: string[]): Promise<void> {
  const values = parse(args, {
    port: { type: 'string' },
    deployment: { type: 'string' },
    circuits: { type: 'string' },
    fund: { type: 'string' },
    eth: { type: 'string' },
    tokens: { type: 'string' },
  });
  const funded = ((values.fund as string | undefined) ?? '').split(',').filter(Boolean);
  for (const address of funded) {
    if (!isAddress(address))
      throw new ZkflError('VALIDATION_FAILED', `--fund: ${String(address)} is not an address`, 'fund');
  }
  const [eth, tokens] = [tokenAmount(values, 'eth', '10'), tokenAmount(values, 'tokens', '1000')];
  // Tasks on a circuit without a verifier here could never settle: refuse to start without the ones asked for.
  const needed = values.circuits === undefined ? defaultSetup : circuitNames(values.circuits as string, 'circuits');
  const missing = needed.filter((name) => !loadCircuit(circuitParams[name]));
  if (missing.length > 0) {
    throw new ZkflError(
      'UNAVAILABLE',
      `circuit${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not built, so on-chain tasks proven with ${missing.length > 1 ? 'them' : 'it'} could not settle here: run \`npx zkfl setup --circuit ${missing.join(',')}\`, or deploy only what is built with --circuits`,
    );
  }
  // Every circuit built here gets its verifier, the ones asked for among them.
  const built = (Object.keys(circuitParams) as CircuitName[])
    .map((name) => loadCircuit(circuitParams[name]))
    .filter((artifacts) => artifacts !== undefined);
  const devnet = await startDevnet(built, integer(values, 'port', 8545));
  const path = (values.deployment as string | undefined) ?? join('.zkfl', 'deployment.json');
  writeDeployment(path, devnet.deployment);
  process.stdout.write(`chain ${devnet.chain.url}\ndeployment ${path}\n`);
  process.stderr.write(
    `contracts deployed by ${await devnet.owner.getAddress()} (Hardhat account 0, which also mints the reward token)\n`,
  );
  for (const address of funded) {
    await devnet.fund(address, formatEther(eth));
    await devnet.mint(address, tokens);
    process.stderr.write(`funded ${address}: ${formatEther(eth)} ETH for gas, ${formatEther(tokens)} ZKR\n`);
  }
  const shutdown = (): void => void devnet.stop().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

/** Asks on the terminal whether the holder agrees to the terms (printed to stderr); `--accept-terms` says yes. */
async function askTerms(view: TermsView, accept: boolean): Promise<boolean> {
  process.stderr.write(renderTerms(view) + '\n');
  if (accept) {
    process.stderr.write('terms accepted (--accept-terms)\n');
    return true;
  }
  if (!process.stdin.isTTY) {
    throw new ZkflError('CONSENT_REQUIRED', 'not a terminal: read the terms above and run again with --accept-terms');
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question('Do you agree to these terms and take part? [y/N] ');
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}

async function clientCommand(args: string[]): Promise<void> {
  const values = parse(args, {
    'accept-terms': { type: 'boolean' },
    coordinator: { type: 'string' },
    task: { type: 'string' },
    data: { type: 'string' },
    ...keyOptions,
    backend: { type: 'string' },
    progress: { type: 'string' },
    ...chainOptions,
  });
  const chain = chainFrom(values);
  const backend = values.backend as string | undefined;
  if (backend !== undefined && !(backendNames as readonly string[]).includes(backend)) {
    throw new ZkflError('VALIDATION_FAILED', `--backend must be one of ${backendNames.join(', ')}`, 'backend');
  }
  const progress = (values.progress as string | undefined) ?? 'bar';
  if (!['bar', 'json', 'none'].includes(progress))
    throw new ZkflError('VALIDATION_FAILED', '--progress must be bar, json or none', 'progress');
  const display = progress === 'bar' ? new ProgressDisplay() : undefined;
  const onEvent = (event: ClientEvent): void => {
    if (progress === 'json') process.stdout.write(JSON.stringify(event) + '\n');
    if (display && event.type === 'proving') {
      display.update(
        'train',
        `round ${event.round}`,
        event.done,
        event.total,
        `proving chunk ${event.done}/${event.total}`,
      );
    }
    if (display && event.type === 'training') {
      const { epoch, epochs, batch, batches, loss } = event.progress;
      display.update(
        'train',
        `round ${event.round}`,
        (epoch - 1) * batches + batch,
        epochs * batches,
        `epoch ${epoch}/${epochs} loss ${loss.toFixed(4)}`,
      );
    }
  };
  try {
    const result = await runClient({
      coordinatorUrl: coordinatorUrl(values),
      taskId: required(values, 'task'),
      dataPath: required(values, 'data'),
      keyPath: (values.key as string | undefined) ?? join(homedir(), '.zkfl', 'key.json'),
      ...(password(values) !== undefined ? { keyPassword: password(values) } : {}),
      backend: backend as BackendName | undefined,
      agreeToTerms: (view) => askTerms(view, values['accept-terms'] === true),
      onEvent,
      ...(chain ? { chain } : {}),
    });
    display?.stop();
    if (result.status !== 'completed') process.exitCode = 1;
    if (progress === 'json') {
      process.stdout.write(JSON.stringify({ type: 'summary', ...result }) + '\n');
    } else {
      const { rewards } = result;
      process.stdout.write(
        `task ${result.status}; ${result.roundsContributed} rounds contributed by ${result.address}` +
          (rewards
            ? `; claimed ${formatEther(rewards.claimed)} tokens (${rewards.owed} rounds still owed, ${rewards.omitted} left out)`
            : '') +
          '\n',
      );
    }
  } finally {
    display?.stop();
  }
}

/** Per participant of a demo: its scores and amounts summed over rounds, and its token balance (to the cent: the
 * JSON output has them exact). */
function participantRows(result: DemoResult): Array<Array<string | number>> {
  const addresses = [...new Set(result.rounds.flatMap((round) => Object.keys(round.scores)))].sort();
  const cents = (tokens: string): string => Number(tokens).toFixed(2);
  return addresses.map((address) => [
    address,
    result.rounds.reduce((sum, round) => sum + (round.scores[address] ?? 0), 0).toFixed(5),
    cents(formatEther(result.rounds.reduce((sum, round) => sum + BigInt(round.amounts[address] ?? '0'), 0n))),
    result.rewards?.[address] === undefined ? '-' : cents(result.rewards[address]),
  ]);
}

/** The demo's tables (or its JSON). */
function printDemo(result: DemoResult, json: boolean): void {
  if (json) {
    const { rounds, rewards, settlement } = result;
    process.stdout.write(
      JSON.stringify({ rounds, ...(rewards ? { rewards } : {}), ...(settlement ? { settlement } : {}) }) + '\n',
    );
  } else {
    process.stdout.write(
      '\n' +
        table(
          [
            'round',
            'accuracy',
            'loss',
            'participants',
            'rejected',
            'proofs verified',
            'proofs rejected',
            'proving s/client',
            'paid on-chain',
          ],
          result.rounds.map((round) => [
            round.round,
            percent(round.accuracy),
            fixed(round.loss),
            round.participants,
            round.rejected,
            round.proofsVerified,
            round.proofsRejected,
            round.provingSeconds === undefined ? '-' : round.provingSeconds.toFixed(1),
            round.paidOnchain ?? '-',
          ]),
        ) +
        '\n\n' +
        table(
          ['participant', 'score (sum over rounds)', 'earned (ZKR)', 'reward balance (ZKR)'],
          participantRows(result),
        ) +
        (result.settlement
          ? `\n\nsettlement: ${result.settlement.gasPerContributorPerRound.toFixed(0)} gas per contributor per round` +
            ` (claims), ${result.settlement.coordinatorGasPerRound.toFixed(0)} gas per round for the coordinator`
          : '') +
        `\n\ntask ${result.taskId} finished in ${result.seconds.toFixed(0)} s\n`,
    );
  }
}

async function demoCommand(args: string[]): Promise<void> {
  const values = parse(args, {
    clients: { type: 'string' },
    rounds: { type: 'string' },
    alpha: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
    'audit-out': { type: 'string' },
    model: { type: 'string' },
    serve: { type: 'boolean' },
  });
  const alpha = values.alpha === undefined ? 0.5 : Number(values.alpha);
  if (!(alpha > 0)) throw new ZkflError('VALIDATION_FAILED', '--alpha must be a number > 0', 'alpha');
  const model = (values.model as string | undefined) ?? 'demo-cnn';
  if (!(demoModels as readonly string[]).includes(model)) {
    throw new ZkflError('VALIDATION_FAILED', `--model must be one of ${demoModels.join(', ')}`, 'model');
  }
  const display = new ProgressDisplay();
  try {
    const result = await runDemo({
      model: model as DemoModel,
      clients: integer(values, 'clients', 4),
      rounds: integer(values, 'rounds', 5),
      alpha,
      seed: integer(values, 'seed', 1, 0),
      dataDir: process.env.ZKFL_FASHION_MNIST ?? defaultFashionMnistDir,
      ptau: process.env.ZKFL_PTAU,
      ...(values['audit-out'] ? { auditOut: values['audit-out'] as string } : {}),
      ...(values.serve
        ? {
            onResult: async (result: DemoResult) => {
              display.stop();
              printDemo(result, values.json === true);
              process.stderr.write(`\ndashboard: ${result.dashboardUrl} (Ctrl-C to stop)\n`);
              await new Promise((resolve) => process.once('SIGINT', resolve));
            },
          }
        : {}),
      onClientEvent: (client, event) => {
        if (event.type === 'training') {
          const { epoch, epochs, batch, batches } = event.progress;
          display.update(
            `c${client}`,
            `client ${client}`,
            (epoch - 1) * batches + batch,
            epochs * batches,
            `round ${event.round} training`,
          );
        } else if (event.type === 'proving') {
          display.update(
            `c${client}`,
            `client ${client}`,
            event.done,
            event.total,
            `round ${event.round} proving ${event.done}/${event.total}`,
          );
        } else if (event.type === 'submitted') {
          display.update(
            `c${client}`,
            `client ${client}`,
            1,
            1,
            `round ${event.round} ${event.accepted ? 'accepted' : `rejected: ${event.error?.code}`}`,
          );
        }
      },
      onRoundEnd: (summary) =>
        process.stderr.isTTY || values.json
          ? undefined
          : process.stderr.write(
              `round ${summary.round}: accuracy ${percent(summary.accuracy)}, ${summary.participants} participants\n`,
            ),
    });
    display.stop();
    if (!values.serve) printDemo(result, values.json === true);
  } finally {
    display.stop();
  }
}

/** The password a new keystore is encrypted with: one must be given. */
function newPassword(values: Values): string {
  const given = password(values);
  if (given !== undefined) return given;
  throw new ZkflError(
    'VALIDATION_FAILED',
    'a new keystore needs a password: give --password-file FILE or ZKFL_PASSWORD',
    'password-file',
  );
}

/** `zkfl key new|import|address`: encrypted keystores for data holders, owners and coordinators. */
function keyCommand(args: string[]): void {
  const [sub, ...rest] = args;
  const values = parse(rest, { ...keyOptions, from: { type: 'string' } });
  const path = required(values, 'key');
  if (sub === 'new') {
    if (existsSync(path)) throw new ZkflError('VALIDATION_FAILED', `${path} exists already`, 'key');
    const wallet = new Wallet(Wallet.createRandom().privateKey);
    saveWallet(path, wallet, newPassword(values));
    process.stdout.write(`${wallet.address}\n`);
  } else if (sub === 'import') {
    if (existsSync(path)) throw new ZkflError('VALIDATION_FAILED', `${path} exists already`, 'key');
    const wallet = loadWallet(required(values, 'from'));
    saveWallet(path, wallet, newPassword(values));
    process.stdout.write(`${wallet.address}\n`);
    process.stderr.write(
      `encrypted into ${path}; delete the plaintext ${String(values.from)} once you have checked it\n`,
    );
  } else if (sub === 'address') {
    process.stdout.write(`${keyAddress(path)}\n`);
  } else {
    throw new ZkflError('VALIDATION_FAILED', 'expected `zkfl key new|import|address`', 'command');
  }
}

const commands: Record<string, (args: string[]) => Promise<void> | void> = {
  key: keyCommand,
  setup: setupCommand,
  chain: chainCommand,
  coordinator: coordinatorCommand,
  worker: workerCommand,
  task: taskCommand,
  client: clientCommand,
  demo: demoCommand,
  audit: auditCommand,
  verify: verifyCommand,
};

async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  const levelIndex = args.indexOf('--log-level');
  const level = levelIndex >= 0 ? args[levelIndex + 1] : process.env.ZKFL_LOG_LEVEL;
  if (level !== undefined) {
    if (!isLogLevel(level)) throw new ZkflError('VALIDATION_FAILED', `unknown log level ${level}`, 'log-level');
    setLogLevel(level);
  }
  if (process.env.ZKFL_KEYSTORE_LOG_N !== undefined) setKeystoreCost(Number(process.env.ZKFL_KEYSTORE_LOG_N));
  const command = name === undefined ? undefined : commands[name];
  if (!command || args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usage + '\n');
    if (!command && name !== undefined && name !== '--help' && name !== '-h') process.exitCode = 2;
    return;
  }
  await command(args);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const argumentError = (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  if (error instanceof ZkflError) process.stderr.write(`zkfl: ${error.code}: ${error.message}\n`);
  else if (argumentError) process.stderr.write(`zkfl: ${(error as Error).message}\n\n${usage}\n`);
  else process.stderr.write(`zkfl: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
