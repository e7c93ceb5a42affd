/** The model owner's side: escrow a coordinator task's reward pool in the rewards contract. */
import type { Signer } from 'ethers';
import { taskKey } from '../circuits/statement.js';
import { createLogger } from '../common/log.js';
import type { TaskView } from '../protocol/rest.js';
import { type Deployment, verifierFor } from './deployment.js';
import { type OnchainTask, RewardsContract, TokenContract } from './rewards.js';

const log = createLogger('escrow');

/**
 * Why an on-chain escrow cannot pay for `task` as `coordinator` runs it with the deployment's `verifier` for the
 * task's circuit ('' when it can): the coordinator checks this before round 1, a client before it trains.
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
  if (onchain.chunks !== task.zk.chunks) return `the escrow has ${onchain.chunks} chunks, the task ${task.zk.chunks}`;
  if (onchain.clipSquareX96 !== BigInt(task.zk.clipSquareX96))
    return `the escrow's chunk clip is ${onchain.clipSquareX96}, the task's ${task.zk.clipSquareX96}`;
  if (onchain.rounds < task.spec.rounds)
    return `the escrow pays ${onchain.rounds} rounds, the task has ${task.spec.rounds}`;
  if (onchain.deadline * 1000 <= Date.now()) return "the escrow's deadline has passed";
  return '';
}

export interface EscrowOptions {
  /** Token base units paid per round, split among its accepted contributors. */
  rewardPerRound: bigint;
  /** The coordinator's address (GET /api/info). */
  coordinator: string;
  /** Seconds from now until the task's deadline (then unpaid funds return to the owner). @default 7 days */
  durationSeconds?: number;
}

/** Approves and escrows rewardPerRound × rounds from `owner` for `task`, on the terms the coordinator fixed. */
export async function escrowTask(
  owner: Signer,
  deployment: Deployment,
  task: TaskView,
  options: EscrowOptions,
): Promise<void> {
  const deposit = options.rewardPerRound * BigInt(task.spec.rounds);
  const token = new TokenContract(deployment.token, owner);
  await (await token.approve(deployment.rewards, deposit)).wait();
  const latest = await owner.provider!.getBlock('latest');
  await (
    await new RewardsContract(deployment.rewards, owner).createTask(taskKey(task.id), {
      coordinator: options.coordinator,
      token: deployment.token,
      verifier: verifierFor(deployment, task.zk.circuit),
      rounds: task.spec.rounds,
      chunks: task.zk.chunks,
      clipSquareX96: BigInt(task.zk.clipSquareX96),
      deadline: latest!.timestamp + (options.durationSeconds ?? 7 * 86_400),
      rewardPerRound: options.rewardPerRound,
    })
  ).wait();
  log.info('reward pool escrowed', { task: task.id, deposit: String(deposit) });
}
