/** The model owner's side: escrow a coordinator task's reward pool in the rewards contract. */
import type { Signer } from 'ethers';
import { taskKey } from '../circuits/statement.js';
import { createLogger } from '../common/log.js';
import type { TaskView } from '../protocol/rest.js';
import { type Deployment, verifierFor } from './deployment.js';
import { RewardsContract, TokenContract } from './rewards.js';

const log = createLogger('escrow');

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
      normBound: BigInt(task.zk.normBound),
      deadline: latest!.timestamp + (options.durationSeconds ?? 7 * 86_400),
      rewardPerRound: options.rewardPerRound,
    })
  ).wait();
  log.info('reward pool escrowed', { task: task.id, deposit: String(deposit) });
}
