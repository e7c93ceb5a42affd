/** What the rooms of a running task share: its context (what the coordinator hands a runner) and its open round. */
import type { EventEmitter } from 'node:events';
import type * as tf from '@tensorflow/tfjs';
import type { Signer } from 'ethers';
import type { Receipt } from '../../protocol/receipt.js';
import type { ServerToClientEvents, UpdatePayload } from '../../protocol/events.js';
import type { RoundPhase } from '../../protocol/states.js';
import type { TaskView } from '../../protocol/rest.js';
import type { Dataset } from '../../ml/dataset.js';
import type { RunningSum } from '../../ml/aggregation.js';
import type { Checkpoints } from './checkpoints.js';
import type { CoordinatorEvents } from './events.js';
import type { Settlement } from '../settlement/settlement.js';
import type { Storage } from '../state/storage.js';
import type { UpdateChecker } from './update-check.js';

/** How the runner reaches clients; implemented by the socket gateway. */
export interface ClientDirectory {
  /** Addresses joined to this task over a live connection. */
  connected(taskId: string): string[];
  send<E extends keyof ServerToClientEvents>(
    taskId: string,
    address: string,
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void;
}

export interface TaskRunnerContext {
  task: TaskView;
  /** With a shared database, fenced by the task's lease (Storage.fenced): a runner that lost it cannot write. */
  storage: Storage;
  checkpoints: Checkpoints;
  directory: ClientDirectory;
  /** The task's model, used for evaluation; its weights are overwritten. */
  model: tf.LayersModel;
  evaluationSet: Dataset;
  events: EventEmitter<CoordinatorEvents>;
  checker: UpdateChecker;
  /** The coordinator's key: signs the receipt of every accepted update. */
  identity: Signer;
  /** Present when the coordinator settles on a chain; used by tasks created `onchain`. */
  settlement?: Settlement;
}

export interface ActiveRound {
  number: number;
  phase: RoundPhase;
  attempts: number;
  global: Float32Array;
  globalBytes: Uint8Array;
  modelHash: string;
  deadline: number;
  timer?: NodeJS.Timeout;
  /** Every client sent this round's model, in any attempt: they may still answer. */
  sampled: Set<string>;
  /** Every client sent this round's model, even if it left since: the sampled count a private round accounts for. */
  asked: Set<string>;
  /** Every client the round could have sampled (connected, not yet in it, when it sampled), and those it did. */
  eligible: Set<string>;
  /** Sampled in the current attempt and not yet answered. */
  pending: Set<string>;
  /** Answered this round, accepted or not: one submission per client per round. */
  answered: Set<string>;
  /** Whose update is being checked now: the round does not close before their verdicts. */
  verifying: Map<string, InFlight>;
  /** The current attempt's deadline passed. */
  deadlinePassed: boolean;
  /** What the round's record notes now (rounds.note), if anything. */
  note: string | null;
  sum: RunningSum;
  openedAt: number;
}

/** An update being checked, and the verdict its sender will get: the same for the same update sent again. */
export interface InFlight {
  update: UpdatePayload;
  verdict: Promise<Receipt | undefined>;
}
