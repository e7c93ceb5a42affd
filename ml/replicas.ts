/**
 * Replicas: updates so close to one another that they are one contribution sent under several keys — copies, or
 * copies with a little noise. A round counts each group of replicas once, in its aggregate and in its scoring
 * (ml/scoring.ts): the group's term is its members' mean weighted update, and its value is split equally among
 * them. Copies of an update under many keys then move the model and earn, together, what one of them would alone.
 *
 * Two updates are replicas when ‖Δ_i − Δ_j‖ ≤ d·max(‖Δ_i‖, ‖Δ_j‖), d the task's `aggregation.replicaDistance`.
 * Groups are formed by complete linkage: updates taken in the order they were accepted, each joins the first group
 * of which it is a replica of every member, else starts its own, so that a chain of near-copies cannot join two
 * distinct updates. Distances are between the dequantized values (q·2^−f per chunk), as everyone recomputing the
 * round sees them.
 */
import { RunningSum } from './aggregation.js';
import { type Trust, trustAmong, trustedMean } from './fltrust.js';
import { robustCombine, type RobustRule } from './robust.js';

export interface WeightedUpdate {
  q: ArrayLike<number>;
  fractionBits: readonly number[];
  /** What it weighs in the aggregate (protocol/weights-rule.ts). */
  weight: number;
}

/** ‖a − b‖ (‖a‖ without `b`) of two quantized updates, chunk k at scale 2^−fractionBits[k]. */
function distance(a: WeightedUpdate, b: WeightedUpdate | undefined, chunkSize: number): number {
  let squared = 0;
  for (let chunk = 0; chunk * chunkSize < a.q.length; chunk++) {
    const scaleA = 2 ** -a.fractionBits[chunk]!;
    const scaleB = b ? 2 ** -b.fractionBits[chunk]! : 0;
    const end = Math.min(a.q.length, (chunk + 1) * chunkSize);
    for (let i = chunk * chunkSize; i < end; i++) {
      const difference = a.q[i]! * scaleA - (b ? b.q[i]! * scaleB : 0);
      squared += difference * difference;
    }
  }
  return Math.sqrt(squared);
}

/** ‖a − b‖ / max(‖a‖, ‖b‖): what the replica rule compares with `aggregation.replicaDistance`. */
export function relativeDistance(a: WeightedUpdate, b: WeightedUpdate, chunkSize: number): number {
  return distance(a, b, chunkSize) / Math.max(distance(a, undefined, chunkSize), distance(b, undefined, chunkSize));
}

/** The round's groups of replicas (module comment), as indices in input order; every update alone when d is 0. */
export function replicaGroups(updates: readonly WeightedUpdate[], chunkSize: number, d: number): number[][] {
  if (!(d > 0)) return updates.map((_, k) => [k]);
  const norms = updates.map((update) => distance(update, undefined, chunkSize));
  const replicas = (i: number, j: number): boolean => {
    const bound = d * Math.max(norms[i]!, norms[j]!);
    // Norms further apart than the bound cannot be within it (triangle inequality): no need to compare values.
    return Math.abs(norms[i]! - norms[j]!) <= bound && distance(updates[i]!, updates[j], chunkSize) <= bound;
  };
  const groups: number[][] = [];
  updates.forEach((_, k) => {
    const group = groups.find((members) => members.every((member) => replicas(member, k)));
    if (group) group.push(k);
    else groups.push([k]);
  });
  return groups;
}

/** The groups of more than one update, each member named by `names[k]` (its sender): what a round record lists. */
export function namedReplicas(groups: readonly number[][], names: readonly string[]): string[][] {
  return groups.filter((members) => members.length > 1).map((members) => members.map((k) => names[k]!));
}

/**
 * Σ n_k·Δ_k / |group of k| over the members of `groups`, with that weight: the running sum whose mean is the
 * aggregate of those groups, each counted once. With every update alone it is the plain FedAvg sum.
 */
export function groupedSum(
  updates: readonly WeightedUpdate[],
  groups: readonly number[][],
  chunkSize: number,
  size: number,
): RunningSum {
  const sum = RunningSum.empty(size);
  for (const members of groups) {
    for (const k of members) {
      const { q, weight, fractionBits } = updates[k]!;
      sum.add(q, weight / members.length, fractionBits, chunkSize);
    }
  }
  return sum;
}

/**
 * Whether `update` replays `step`, a step the model already took (the last round's, w_r − w_{r−1}): within
 * `d`·max(‖update‖, ‖step‖) of it, as replicas are of one another. Such an update brings nothing the model lacks.
 */
export function replays(update: WeightedUpdate, step: Float32Array, chunkSize: number, d: number): boolean {
  return d > 0 && relativeDistance(update, stepAsUpdate(step, chunkSize), chunkSize) <= d;
}

/** A step of the model's weights as an update at scale 1 (2^−0 in every chunk), to measure distances to it. */
export function stepAsUpdate(step: Float32Array, chunkSize: number): WeightedUpdate {
  return { q: step, fractionBits: new Array<number>(Math.ceil(step.length / chunkSize)).fill(0), weight: 0 };
}

/** Each group's term: its members' mean update, in group order. */
export function groupTerms(
  updates: readonly WeightedUpdate[],
  groups: readonly number[][],
  chunkSize: number,
  size: number,
): Float64Array[] {
  return groups.map((members) => groupedSum(updates, [members], chunkSize, size).mean());
}

/** The indices of the groups none of whose updates the round left out. */
export function keptGroups(groups: readonly number[][], leftOut: ReadonlySet<number>): number[] {
  return groups.flatMap((members, g) => (members.some((k) => leftOut.has(k)) ? [] : [g]));
}

/**
 * The round's aggregate step: its groups' terms, each group counted once, without the updates the round left out
 * (ml/scoring.ts), combined by their weighted mean — or by a robust rule (ml/robust.ts; FLTrust by the round's
 * `trust` in each group, ml/fltrust.ts); zero when nothing is left.
 */
export function aggregateStep(
  updates: readonly WeightedUpdate[],
  groups: readonly number[][],
  leftOut: ReadonlySet<number>,
  chunkSize: number,
  size: number,
  rule?: RobustRule,
  trust?: Trust,
): Float64Array {
  const keptIndices = keptGroups(groups, leftOut);
  const kept = keptIndices.map((g) => groups[g]!);
  if (rule?.rule === 'fltrust') {
    if (!trust) throw new Error("FLTrust aggregates with the round's trust");
    return trustedMean(groupTerms(updates, kept, chunkSize, size), trustAmong(trust, keptIndices), size);
  }
  if (rule && rule.rule !== 'mean') return robustCombine(groupTerms(updates, kept, chunkSize, size), rule, size);
  const sum = groupedSum(updates, kept, chunkSize, size);
  return sum.totalWeight > 0 ? sum.mean() : new Float64Array(size);
}
