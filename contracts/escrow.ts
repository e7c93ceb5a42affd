/** The model owner's side: escrow a coordinator task's reward pool in the rewards contract, on the task's terms. */
import type { Signer } from 'ethers';
import { taskKey } from '../circuits/statement.js';
import { createLogger } from '../common/log.js';
import type { TaskView } from '../protocol/rest.js';
import { bondsOf } from '../protocol/task-spec.js';
import { type Deployment, verifierFor } from './deployed.js';
import { type OnchainTask, type OnchainTaskParams, RewardsContract, TokenContract } from './rewards.js';

const log = createLogger('escrow');

/** The on-chain terms a task's spec implies, for `coordinator` with `verifier`, paid in `token`. */
export function escrowTerms(task: TaskView, coordinator: string, verifier: string, token: string): OnchainTaskParams {
  const { rewards } = task.spec;
  if (rewards.deadline === undefined) throw new Error(`task ${task.id} names no deadline: it cannot be escrowed`);
  return {
    coordinator,
    token,
    verifier,
    verificationKey: '0x' + (task.zk.verificationKeySha256 ?? ''),
    rounds: task.spec.rounds,
    chunks: task.zk.chunks,
    baseShareBps: rewards.baseShareBps,
    clipSquareX96: BigInt(task.zk.clipSquareX96),
    deadline: rewards.deadline,
    challengeWindow: rewards.challengeWindowSeconds,
    answerWindow: rewards.answerWindowSeconds,
    claimPeriod: rewards.claimPeriodSeconds,
    stake: BigInt(rewards.stake ?? '0'),
    rewardPerRound: BigInt(rewards.perRound),
    ...bondsOf(rewards, task.zk.chunks),
  };
}

/**
 * Why an on-chain escrow cannot pay for `task` as `coordinator` runs it with the deployment's `verifier` for the
 * task's circuit ('' when it can): the coordinator checks this before round 1, a client before it agrees to the terms.
 */
export function escrowMismatch(
  onchain: OnchainTask | undefined,
  task: TaskView,
  coordinator: string,
  verifier: string | undefined,
): string {
  if (!onchain) return 'no reward pool is escrowed for the task';
  if (onchain.coordinator.toLowerCase() !== coordinator.toLowerCase())
    return `the escrow names coordinator ${onchain.coordinator}, not ${coordinator}`;
  if (!verifier || onchain.verifier.toLowerCase() !== verifier.toLowerCase())
    return `the escrow's verifier ${onchain.verifier} is not circuit ${task.zk.circuit}'s (${verifier ?? 'none deployed'})`;
  if (task.spec.owner && onchain.owner.toLowerCase() !== task.spec.owner.toLowerCase())
    return `the escrow was made by ${onchain.owner}, not the task's owner ${task.spec.owner}`;
  const expected = escrowTerms(task, coordinator, verifier, onchain.token);
  for (const field of [
    'verificationKey',
    'chunks',
    'clipSquareX96',
    'rewardPerRound',
    'baseShareBps',
    'deadline',
    'challengeWindow',
    'answerWindow',
    'claimPeriod',
    'stake',
    'coordinatorBond',
    'challengeBond',
  ] as const) {
    if (onchain[field] !== expected[field])
      return `the escrow's ${field} is ${onchain[field]}, the task's ${expected[field]}`;
  }
  if (onchain.rounds < task.spec.rounds)
    return `the escrow pays ${onchain.rounds} rounds, the task has ${task.spec.rounds}`;
  if (onchain.deadline * 1000 <= Date.now()) return "the escrow's deadline has passed";
  return '';
}

export interface EscrowOptions {
  /** The coordinator's address (GET /api/info). */
  coordinator: string;
}

/**
 * What `owner` lacks to escrow `deposit` token base units on `deployment` ('' when nothing): tokens, or ETH for
 * the approval and the escrow's gas.
 */
export async function escrowShortfall(owner: Signer, deployment: Deployment, deposit: bigint): Promise<string> {
  const address = await owner.getAddress();
  const [tokens, eth] = await Promise.all([
    new TokenContract(deployment.token, owner).balanceOf(address),
    owner.provider!.getBalance(address),
  ]);
  const lacking: string[] = [];
  if (tokens < deposit) lacking.push(`${deposit - tokens} more base units of the reward token ${deployment.token}`);
  if (eth === 0n) lacking.push('ETH for gas');
  return lacking.length ? `${address} needs ${lacking.join(' and ')} to escrow ${deposit}` : '';
}

/** Approves and escrows the task's pool (`rewards.perRound` × rounds) from `owner`, on the terms of its spec. */
export async function escrowTask(
  owner: Signer,
  deployment: Deployment,
  task: TaskView,
  options: EscrowOptions,
): Promise<void> {
  const deposit = BigInt(task.spec.rewards.perRound) * BigInt(task.spec.rounds);
  if (deposit === 0n) throw new Error(`task ${task.id} pays nothing: set rewards.perRound in its spec`);
  const token = new TokenContract(deployment.token, owner);
  await (await token.approve(deployment.rewards, deposit)).wait();
  const terms = escrowTerms(task, options.coordinator, verifierFor(deployment, task.zk.circuit), deployment.token);
  await (await new RewardsContract(deployment.rewards, owner).createTask(taskKey(task.id), terms)).wait();
  log.info('reward pool escrowed', { task: task.id, deposit: String(deposit) });
}
