/**
 * The life of one round, as pure functions so the rules can be tested without sockets or timers:
 *   open → training → aggregating → evaluated
 * A round in training closes when its deadline passes or nobody it is waiting for is left; it then aggregates if
 * at least `min` valid updates arrived, and otherwise is retried (a new attempt samples more clients and keeps
 * the updates already accepted, since they were computed against the same global model).
 */
import type { RoundPhase } from '../protocol/events.js';

const transitions: Record<RoundPhase, readonly RoundPhase[]> = {
  open: ['training'],
  training: ['training', 'aggregating'],
  aggregating: ['evaluated'],
  evaluated: [],
};

export function assertTransition(from: RoundPhase, to: RoundPhase): void {
  if (!transitions[from].includes(to)) throw new Error(`round cannot go from ${from} to ${to}`);
}

export interface RoundTally {
  accepted: number;
  /** Sampled clients still expected to answer in this attempt. */
  pending: number;
  min: number;
  target: number;
  deadlinePassed: boolean;
}

export type CloseDecision = 'wait' | 'aggregate' | 'retry';

export function decideClose(tally: RoundTally): CloseDecision {
  if (tally.accepted >= tally.target) return 'aggregate';
  const attemptOver = tally.deadlinePassed || tally.pending === 0;
  if (!attemptOver) return 'wait';
  if (tally.accepted >= tally.min) return 'aggregate';
  // Nobody left to wait for, but the deadline has not passed: clients that join meanwhile are sampled at once.
  return tally.deadlinePassed ? 'retry' : 'wait';
}

/** How many more clients to sample now so that accepted + pending reaches the target. */
export function samplesNeeded(tally: Pick<RoundTally, 'accepted' | 'pending' | 'target'>): number {
  return Math.max(0, tally.target - tally.accepted - tally.pending);
}
