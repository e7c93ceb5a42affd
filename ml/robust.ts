/**
 * Byzantine-robust rules for combining a round's terms (`aggregation.rule`), in place of their mean. Each term is one
 * group of replicas' mean update (ml/replicas.ts), each counted once; weights do not enter (a robust task weighs
 * updates equally).
 *
 * - `median`: the coordinate-wise median (Yin et al., "Byzantine-Robust Distributed Learning: Towards Optimal
 *   Statistical Rates", ICML 2018).
 * - `trimmedMean`: per coordinate, the mean once the ⌊β·n⌋ lowest and highest values are dropped (β = `trim`; same
 *   paper).
 * - `krum`: the `krumSelect` terms whose n − f − 2 nearest neighbours are closest (f = `byzantine`), averaged
 *   (Blanchard et al., "Machine Learning with Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS 2017; one
 *   selected is Krum, more is multi-Krum). With n ≤ f + 2, each term's one nearest neighbour counts.
 *
 * Deterministic (ties go to the earlier term), so `zkfl verify` recomputes the same step from the published updates.
 */
import type { AggregationConfig } from '../protocol/task-spec.js';

export type RobustRule = Pick<AggregationConfig, 'rule' | 'trim' | 'byzantine' | 'krumSelect'>;

/** The rule's combination of `terms` (each a full update); zero without terms. */
export function robustCombine(terms: readonly Float64Array[], rule: RobustRule, size: number): Float64Array {
  if (terms.length === 0) return new Float64Array(size);
  switch (rule.rule) {
    case 'median':
      return coordinateWise(terms, size, (sorted) => median(sorted));
    case 'trimmedMean':
      return coordinateWise(terms, size, (sorted) => trimmedMean(sorted, rule.trim ?? 0));
    case 'krum':
      return krum(terms, rule.byzantine ?? 0, rule.krumSelect ?? 1, size);
    default:
      return coordinateWise(terms, size, (sorted) => trimmedMean(sorted, 0));
  }
}

/** Each coordinate's sorted values across the terms, combined by `combine`. */
function coordinateWise(
  terms: readonly Float64Array[],
  size: number,
  combine: (sorted: Float64Array) => number,
): Float64Array {
  const result = new Float64Array(size);
  const column = new Float64Array(terms.length);
  for (let i = 0; i < size; i++) {
    terms.forEach((term, k) => (column[k] = term[i]!));
    column.sort();
    result[i] = combine(column);
  }
  return result;
}

function median(sorted: Float64Array): number {
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function trimmedMean(sorted: Float64Array, trim: number): number {
  const dropped = Math.floor(trim * sorted.length);
  const kept = sorted.subarray(dropped, sorted.length - dropped);
  return kept.reduce((sum, value) => sum + value, 0) / kept.length;
}

/** The mean of the `select` terms with the least Krum scores. */
function krum(terms: readonly Float64Array[], byzantine: number, select: number, size: number): Float64Array {
  const n = terms.length;
  const distances = terms.map((a) => terms.map((b) => a.reduce((sum, value, i) => sum + (value - b[i]!) ** 2, 0)));
  const neighbours = Math.max(1, n - byzantine - 2);
  const scores = distances.map((row, k) =>
    row
      .filter((_, j) => j !== k)
      .sort((x, y) => x - y)
      .slice(0, neighbours)
      .reduce((sum, value) => sum + value, 0),
  );
  const chosen = scores
    .map((score, k) => ({ score, k }))
    .sort((a, b) => a.score - b.score || a.k - b.k)
    .slice(0, Math.min(select, n));
  const result = new Float64Array(size);
  for (const { k } of chosen) terms[k]!.forEach((value, i) => (result[i]! += value / chosen.length));
  return result;
}
