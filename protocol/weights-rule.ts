/**
 * What an accepted update weighs in its round's aggregate and in every coalition its score is computed on
 * (`aggregation.weights` in the task spec): the coordinator's running sum, its scoring and \`zkfl verify\`'s
 * recomputation all take it from here.
 */
import type { AggregationConfig } from './task-spec.js';

/** The most a declared sample count can count as (the coordinator's integer sums stay exact). */
export const maxSamples = 2 ** 20;

/**
 * The weight of an update whose client declared `declared` samples. A task stored before the rule existed has no
 * `weights` and weighed by the declared count.
 */
export function updateWeight(aggregation: Pick<AggregationConfig, 'weights' | 'samplesCap'>, declared: number): number {
  if (aggregation.weights === 'equal') return 1;
  return Math.min(declared, aggregation.samplesCap ?? maxSamples);
}
