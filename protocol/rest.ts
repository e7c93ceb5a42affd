/** REST payloads served by the coordinator and read by the CLI, the client and the demo. */
import type { RoundPhase, TaskStatus } from './events.js';
import type { ErrorCode } from './errors.js';
import type { TaskSpec } from './task-spec.js';

export interface TaskView {
  id: string;
  spec: TaskSpec;
  status: TaskStatus;
  /** The round in progress, or the last round once the task ended. */
  currentRound: number;
  numParams: number;
  /** sha256 of the current global weights. */
  modelHash: string;
  createdAt: string;
}

export interface RejectionView {
  address: string;
  code: ErrorCode;
  reason: string;
  at: string;
}

export interface RoundView {
  round: number;
  phase: RoundPhase;
  /** How many times the round was (re)started because too few valid updates arrived. */
  attempts: number;
  openedAt: string;
  closedAt: string | null;
  accuracy: number | null;
  loss: number | null;
  participants: Array<{ address: string; numSamples: number; trainLoss: number | null }>;
  rejected: RejectionView[];
  modelHashBefore: string;
  modelHashAfter: string | null;
}

export interface NonceView {
  nonce: string;
  expiresAt: number;
}
