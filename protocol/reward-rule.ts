/**
 * The reward rule: how a round's pool is split among its accepted contributors from their scores. The coordinator
 * applies it when a round closes; every verifier applies it again to the signed scores.
 */

/** How a round's pool is split (`rewards` in the task spec). */
export interface RewardRule {
  /** Fraction of the pool split equally among the round's accepted contributors, in basis points. */
  baseShareBps: number;
}

/**
 * Each contributor's amount of a round's `pool` (token base units): an equal base share, then the rest in
 * proportion to positive scores. Scores are taken to 1e-12 (so the split is exact integer arithmetic that anyone
 * recomputes from the recorded scores); a score ≤ 0 earns only the base; what rounding leaves, and the value part
 * of a round whose scores are all ≤ 0, stays unpaid (the owner reclaims it).
 */
export function rewardAmounts(scores: readonly number[], pool: bigint, rule: RewardRule): bigint[] {
  const n = BigInt(scores.length);
  if (n === 0n) return [];
  const base = (pool * BigInt(rule.baseShareBps)) / 10_000n / n;
  const valuePart = pool - base * n;
  const weights = scores.map((score) => (score > 0 ? BigInt(Math.round(score * 1e12)) : 0n));
  const total = weights.reduce((sum, weight) => sum + weight, 0n);
  return weights.map((weight) => base + (total === 0n ? 0n : (valuePart * weight) / total));
}
