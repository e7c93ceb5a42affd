/**
 * The reward rule: how a round's pool is split among its accepted contributors from their scores. The coordinator
 * applies it when a round closes; every verifier applies it again to the signed scores.
 */

/** How a round's pool is split (`rewards` in the task spec). */
export interface RewardRule {
  /** Fraction of the pool split equally among the round's accepted contributors, in basis points. */
  baseShareBps: number;
  /**
   * 'round' (absent): each round's value part is split by that round's scores alone. 'task': by the values summed
   * over the task so far, paid as each key's shortfall against its share (see `taskAmounts`).
   */
  valueOver?: 'round' | 'task';
}

/** One accepted update of a round, as the rule sees it. */
export interface Scored {
  address: string;
  score: number;
}

/** Scores are taken to 1e-12 so the split is exact integer arithmetic that anyone recomputes from the record. */
const SCORE_STEPS = 1e12;
const valueOf = (score: number): bigint => (score > 0 ? BigInt(Math.round(score * SCORE_STEPS)) : 0n);

/**
 * Whether the rule can take `score`: finite at 1e-12 steps (below about 1e296). A real score is a loss reduction,
 * far inside; a record claiming more is malformed (verifier/bundle-shape.ts), not a score that breaks the split.
 */
export const isPayableScore = (score: number): boolean => Number.isFinite(score * SCORE_STEPS);

/** The equal base each of a round's `count` contributors gets, and what is left of the pool to pay by value. */
function baseAndValuePart(count: number, pool: bigint, rule: RewardRule): { base: bigint; valuePart: bigint } {
  const n = BigInt(count);
  const base = n === 0n ? 0n : (pool * BigInt(rule.baseShareBps)) / 10_000n / n;
  return { base, valuePart: pool - base * n };
}

/**
 * Each contributor's amount of a round's `pool` (token base units): an equal base share, then the rest in
 * proportion to positive scores. A score ≤ 0 earns only the base; what rounding leaves, and the value part of a
 * round whose scores are all ≤ 0, stays unpaid (the owner reclaims it).
 */
export function rewardAmounts(scores: readonly number[], pool: bigint, rule: RewardRule): bigint[] {
  if (scores.length === 0) return [];
  const { base, valuePart } = baseAndValuePart(scores.length, pool, rule);
  const weights = scores.map(valueOf);
  const total = weights.reduce((sum, weight) => sum + weight, 0n);
  return weights.map((weight) => base + (total === 0n ? 0n : (valuePart * weight) / total));
}

/** What the task-wide rule carries from round to round. */
interface Ledger {
  /** The value parts of every round so far. */
  budget: bigint;
  /** Value parts handed out so far. */
  handedOut: bigint;
  /** Each address's positive values summed over the rounds so far, and their total. */
  values: Map<string, bigint>;
  totalValue: bigint;
  /** The value part of each address's amounts so far. */
  paid: Map<string, bigint>;
}

/**
 * Every round's amounts under `rule`, from the scores of rounds 1, 2, … in order (an empty list for a round that
 * accepted nothing). With `valueOver: 'task'` a key is entitled to the value parts of all rounds so far in proportion
 * to its positive values summed over them; a round pays each of its positive scorers the shortfall between that
 * entitlement and what it was paid before, scaled down together if the unpaid budget cannot cover them all. So a
 * round that gained little moves little pay, a round that gained nothing carries its value part forward, and what is
 * paid early is never taken back. A score ≤ 0 earns only the base, as under 'round'.
 */
export function taskAmounts(rounds: readonly (readonly Scored[])[], pool: bigint, rule: RewardRule): bigint[][] {
  if (rule.valueOver !== 'task')
    return rounds.map((round) =>
      rewardAmounts(
        round.map(({ score }) => score),
        pool,
        rule,
      ),
    );
  const ledger: Ledger = { budget: 0n, handedOut: 0n, values: new Map(), totalValue: 0n, paid: new Map() };
  return rounds.map((round) => roundOfTask(ledger, round, pool, rule));
}

function roundOfTask(ledger: Ledger, round: readonly Scored[], pool: bigint, rule: RewardRule): bigint[] {
  const { base, valuePart } = baseAndValuePart(round.length, pool, rule);
  ledger.budget += valuePart;
  for (const { address, score } of round) {
    ledger.values.set(address, (ledger.values.get(address) ?? 0n) + valueOf(score));
    ledger.totalValue += valueOf(score);
  }
  const shortfalls = round.map(({ address, score }) => {
    if (valueOf(score) === 0n) return 0n;
    const entitled = (ledger.budget * ledger.values.get(address)!) / ledger.totalValue;
    const shortfall = entitled - (ledger.paid.get(address) ?? 0n);
    return shortfall > 0n ? shortfall : 0n;
  });
  const wanted = shortfalls.reduce((sum, shortfall) => sum + shortfall, 0n);
  const unpaid = ledger.budget - ledger.handedOut;
  return round.map(({ address }, k) => {
    const value = wanted > unpaid ? (shortfalls[k]! * unpaid) / wanted : shortfalls[k]!;
    ledger.paid.set(address, (ledger.paid.get(address) ?? 0n) + value);
    ledger.handedOut += value;
    return base + value;
  });
}
