/** `zkfl task`. */
import { formatEther, Wallet } from 'ethers';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OwnerSession } from '../../client/owner.js';
import { loadOrCreateWallet } from '../../common/identity.js';
import { connectRpc } from '../../contracts/rpc.js';
import { type Deployment } from '../../contracts/deployment.js';
import { escrowShortfall, escrowTask } from '../../contracts/escrow.js';
import { revertName } from '../../contracts/rewards.js';
import { CoordinatorApi } from '../../protocol/api.js';
import { ZkflError } from '../../common/errors.js';
import type { RoundView, TaskView } from '../../protocol/rest.js';
import { type TaskSpecInput } from '../../protocol/task-spec.js';
import {
  chainFrom,
  chainOptions,
  coordinatorUrl,
  integer,
  keyOptions,
  parse,
  password,
  readJson,
  required,
  type Values,
} from '../args.js';
import { fixed, percent, table } from '../render.js';

/** This command's lines of `zkfl --help`. */
export const usage = `  zkfl task create --config task.json --key FILE [--evaluation PATH] [--coordinator URL] [--escrow CHAIN]
  zkfl task escrow --task ID --key FILE [--coordinator URL] CHAIN
  zkfl task cancel --task ID --key FILE [--coordinator URL]
  zkfl task show --task ID [--coordinator URL] [--json]
  zkfl task model --task ID --out DIR [--round R] [--coordinator URL]`;

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

const options = {
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
} as const;

/** The subcommands, each given the flags and the coordinator's API. */
const subcommands: Record<string, (values: Values, api: CoordinatorApi) => Promise<void>> = {
  create: createTask,
  escrow: async (values, api) => {
    const task = await api.task(required(values, 'task'));
    await checkEscrowFunds(values, task.spec);
    await escrowCommand(values, api, task);
  },
  cancel: async (values, api) => {
    const owner = await OwnerSession.open(api.base, loadOrCreateWallet(required(values, 'key'), password(values)));
    const task = await owner.cancelTask(required(values, 'task'));
    process.stdout.write(`${task.id} ${task.status}\n`);
  },
  show: showTask,
  model: saveModel,
};

export async function run(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const subcommand = sub === undefined ? undefined : subcommands[sub];
  if (!subcommand) {
    throw new ZkflError('VALIDATION_FAILED', 'expected `zkfl task create|escrow|cancel|show|model`', 'command');
  }
  const values = parse(rest, options);
  await subcommand(values, new CoordinatorApi(coordinatorUrl(values)));
}

/** `task create`: signs in as the owner, uploads the evaluation set if given, creates the task (and escrows). */
async function createTask(values: Values, api: CoordinatorApi): Promise<void> {
  let spec = readJson(required(values, 'config'), 'config') as TaskSpecInput;
  // Funds first: a task created without the means to pay would wait for an escrow that never comes.
  if (values.escrow) await checkEscrowFunds(values, spec);
  const owner = await OwnerSession.open(api.base, loadOrCreateWallet(required(values, 'key'), password(values)));
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
}

const roundColumns = [
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
];

/** `task show`: the task and a table of its rounds, then the rejections they list; or all of it as JSON. */
async function showTask(values: Values, api: CoordinatorApi): Promise<void> {
  const id = required(values, 'task');
  const [task, rounds] = await Promise.all([api.task(id), api.rounds(id)]);
  if (values.json) {
    process.stdout.write(JSON.stringify({ task, rounds }, null, 2) + '\n');
    return;
  }
  const reason = task.reason ? ` (${task.reason})` : '';
  process.stdout.write(
    `${task.id} "${task.spec.name}": ${task.status}${reason}, round ${task.currentRound} of ${task.spec.rounds}, ${task.numParams} parameters\n\n`,
  );
  process.stdout.write(table(roundColumns, roundRows(rounds)) + '\n');
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
}

/** `task model`: the model (TF.js layers format) after a round, or the latest, written to --out. */
async function saveModel(values: Values, api: CoordinatorApi): Promise<void> {
  const id = required(values, 'task');
  const out = required(values, 'out');
  const which = values.round === undefined ? 'latest' : integer(values, 'round', 0, 0);
  const modelJson = await api.modelJson(id, which);
  const weights = await api.weights(id, which);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'model.json'), JSON.stringify(modelJson));
  writeFileSync(join(out, 'weights.bin'), weights);
  process.stdout.write(`${join(out, 'model.json')}\n`);
}

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
