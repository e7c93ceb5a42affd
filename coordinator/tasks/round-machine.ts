/**
 * The life of one round, as pure functions so the rules can be tested without sockets or timers:
 *   open → training → aggregating → evaluated
 * A round in training closes when its deadline passes or nobody it is waiting for is left, but never while an
 * update is being verified. It then aggregates if at least `min` valid updates arrived; otherwise it is retried with
 * the clients it has not asked yet (a new attempt keeps the updates already accepted, since they were computed
 * against the same global model), or, with none left to ask, it is short: it waits for new clients or ends the
 * task, as the spec says (`clientsPerRound.whenShort`).
 */
import type { RoundPhase } from '../../protocol/states.js';

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
  /** Sampled clients still expected to answer in this attempt (those whose update is being verified among them). */
  pending: number;
  /** Updates being verified now: the round waits for their verdicts, whatever its deadline. */
  verifying: number;
  min: number;
  target: number;
  deadlinePassed: boolean;
  /** Connected clients this round has not asked yet. */
  candidates: number;
}

export type CloseDecision = 'wait' | 'aggregate' | 'retry' | 'short';

export function decideClose(tally: RoundTally): CloseDecision {
  if (tally.accepted >= tally.target) return 'aggregate';
  const attemptOver = tally.deadlinePassed || tally.pending === 0;
  if (!attemptOver || tally.verifying > 0) return 'wait';
  if (tally.accepted >= tally.min) return 'aggregate';
  // Nobody left to wait for, but the deadline has not passed: clients that join meanwhile are sampled at once.
  if (!tally.deadlinePassed) return 'wait';
  return tally.candidates > 0 ? 'retry' : 'short';
}

/** How many more clients to sample now so that accepted + pending reaches the target. */
export function samplesNeeded(tally: Pick<RoundTally, 'accepted' | 'pending' | 'target'>): number {
  return Math.max(0, tally.target - tally.accepted - tally.pending);
}
