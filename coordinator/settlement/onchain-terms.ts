/**
 * What an on-chain task's escrow will hold, fixed when the task is created so that holders agree to it in its terms:
 * the deadline (filled in when the spec leaves it out), checked to leave every round its time and its claim period,
 * and the challenge bond, checked against its floor. The contract enforces the same rules (ZkflRewards.createTask),
 * and only verifies answers of up to MAX_CHUNKS chunk proofs.
 */
import { MAX_CHUNKS } from '../../contracts/rewards.js';
import { ZkflError } from '../../common/errors.js';
import { challengeBondFloor, settlementSeconds, type TaskSpec } from '../../protocol/task-spec.js';

/** Checks `spec`'s settlement terms for a model of `chunks` chunk proofs, filling in its deadline; throws if unfit. */
export function fixSettlementTerms(spec: TaskSpec, chunks: number, nowSeconds: number): void {
  if (!spec.onchain) return;
  if (chunks > MAX_CHUNKS) {
    throw new ZkflError(
      'VALIDATION_FAILED',
      `an on-chain task's updates may take at most ${MAX_CHUNKS} chunk proofs (a challenge's answer verifies them all in one transaction); this model needs ${chunks}`,
      'model',
    );
  }
  const { rewards } = spec;
  const floor = challengeBondFloor(BigInt(rewards.perRound), chunks);
  if (rewards.challengeBond !== undefined && BigInt(rewards.challengeBond) < floor) {
    throw new ZkflError(
      'VALIDATION_FAILED',
      `the challenge bond must be at least a thousandth of a round's pool per chunk: ${floor}`,
      'rewards.challengeBond',
    );
  }
  const needed = settlementSeconds(spec);
  rewards.deadline ??= nowSeconds + needed + spec.rounds * spec.roundDeadlineSeconds;
  if (rewards.deadline < nowSeconds + needed) {
    throw new ZkflError(
      'VALIDATION_FAILED',
      `the deadline leaves no time for every round, its windows and the claim period: at least ${nowSeconds + needed}`,
      'rewards.deadline',
    );
  }
}
