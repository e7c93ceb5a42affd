/** REST payloads served by the coordinator and read by the CLI, the client and the demo. */
import type { RoundPhase, TaskStatus } from './states.js';
import type { ErrorCode } from '../common/errors.js';
import type { TaskSpec } from './task-spec.js';

/** How a task's updates are quantized and proven; fixed when the task is created. */
export interface ZkView {
  /** Circuit parameter set (circuits/params.ts) whose proofs the task takes. */
  circuit: string;
  chunkSize: number;
  /** Proofs per update. */
  chunks: number;
  /** B: bits per quantized value (the task's `quantization.bits`). */
  valueBits: 6 | 8 | 16;
  /**
   * ⌊τ_k²·2^96⌋ for the chunk clip τ_k = clipNorm/√chunks, decimal: a chunk at scale 2^f is bound by
   * Σq² ≤ ⌊τ_k²·4^f⌋ (circuits/codec.ts normBoundFor); the on-chain escrow holds the same number.
   */
  clipSquareX96: string;
  /** sha256 of the verification key (null when the task takes no proofs): a client proving with other keys is told so before it trains. */
  verificationKeySha256: string | null;
  /** Whether statements name the verification key (circuits/statement.ts): true for tasks created since they do. */
  statementNamesKey?: boolean;
}

export interface TaskView {
  id: string;
  spec: TaskSpec;
  zk: ZkView;
  status: TaskStatus;
  /** The round in progress, or the last round once the task ended. */
  currentRound: number;
  numParams: number;
  /** sha256 of the current global weights. */
  modelHash: string;
  createdAt: string;
  /** While the task runs: the data holders connected to it now. */
  connected?: number;
  /** While a round trains: when its current attempt closes (ISO 8601). */
  roundDeadline?: string;
  /** Why a task that did not complete ended. */
  reason?: string;
}

export interface RejectionView {
  address: string;
  code: ErrorCode;
  reason: string;
  at: string;
}

/** An accepted update as a round shows it. */
export interface ParticipantView {
  address: string;
  numSamples: number;
  trainLoss: number | null;
  /** keccak256 of the update's chunk commitments (contracts/accepted-set.ts); null for a task without proofs. */
  commitment: string | null;
  /** Contribution score and what the leaf pays (token base units), once the round is scored. */
  score: number | null;
  amount: string | null;
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
  /** Accepted updates, in the order they were accepted. */
  participants: ParticipantView[];
  /** Rejected updates, at most a few per address and a bounded number per round (the coordinator's limits)… */
  rejected: RejectionView[];
  /** …and how many more were rejected without being listed. */
  rejectedUnlisted: number;
  /** Clients sent the round's model; a client sampled again after dropping out counts again. */
  sampled: number;
  /** Sampled clients whose update arrived, accepted or rejected. */
  answered: number;
  /** Sampled clients that never answered (left, or missed the deadline); null until the round closes. */
  dropped: number | null;
  /** Chunk proofs that verified, and that were refused, in this round. */
  proofsVerified: number;
  proofsRejected: number;
  /** Seconds spent verifying them, summed over the round's updates (waiting for a free verifier included). */
  verifySeconds: number;
  modelHashBefore: string;
  modelHashAfter: string | null;
  /** What the round waits for, or why it ended as it did, when that is out of its usual course. */
  note: string | null;
  /** A private task's ε spent up to and including this round, once it closed (null otherwise). */
  epsilon: number | null;
}

/** `GET /api/info`: who this coordinator is and where it settles. */
export interface InfoView {
  /** The coordinator's address: it signs receipts and is the on-chain coordinator of its `onchain` tasks. */
  coordinator: string;
  /** The deployment it settles on, or null when it runs without a chain. */
  chain: {
    chainId: number;
    rewards: string;
    token: string;
    verifiers: Record<string, { address: string; verificationKeySha256: string }>;
    /** The JSON-RPC URL a contributor page reaches the chain at, or null when the coordinator names none. */
    publicRpcUrl: string | null;
  } | null;
}

/** `GET /api/tasks/:id/rounds/:round/accepted`: the entries whose Merkle root the coordinator posts on-chain. */
export interface AcceptedSetView {
  round: number;
  /** Final once the round was scored and recorded (amounts are 0 until then). */
  final: boolean;
  root: string;
  /** What the entries pay in all (token base units, decimal). */
  total: string;
  entries: Array<{ address: string; commitment: string; amount: string }>;
}

/** `GET /api/auth/nonce`: what a sign-in message (protocol/sign-in.ts) must carry. */
export interface NonceView {
  nonce: string;
  /** Milliseconds since the epoch; the sign-in message expires with the nonce. */
  expiresAt: number;
  /** The chain the coordinator settles on (1 when it runs without one): the message's Chain ID. */
  chainId: number;
}

/** `POST /api/auth/session`: a model owner's session, sent as `Authorization: Bearer <token>`. */
export interface SessionView {
  token: string;
  address: string;
  expiresAt: number;
}

/** `POST /api/uploads`: an evaluation set the coordinator now holds, named by `evaluation.upload` in a task spec. */
export interface UploadView {
  upload: string;
  bytes: number;
  /** Examples it holds, and the shape of one. */
  count: number;
  exampleShape: number[];
}

/** `GET /api/holders/:address`: what a data holder did on this coordinator, task by task. */
export interface HolderView {
  address: string;
  tasks: Array<{
    taskId: string;
    name: string;
    status: TaskStatus;
    /** The terms it agreed to (their hash) and when; null if it never joined with a consent. */
    consent: { termsHash: string; at: string } | null;
    /** Its accepted updates: the commitment its receipt names, and once the round is scored, score and amount. */
    rounds: Array<{ round: number; commitment: string | null; score: number | null; amount: string | null }>;
    /** Token base units its scored rounds pay it in all. */
    earned: string;
    /** What it has claimed on-chain so far (token base units), and in which rounds. */
    claimed: string;
    claimedRounds: number[];
    /** A private task's guarantee to it: the ε spent so far, at δ (every holder who consented is covered alike). */
    privacy?: { epsilon: number; delta: number };
  }>;
  /** Updates of its that were rejected (listed ones; see RoundView.rejected). */
  rejections: number;
  /**
   * Its privacy ledger: ε and δ summed over the private tasks it consented to here, by basic composition (a bound:
   * tighter compositions exist, but need the tasks' RDP curves).
   */
  privacy?: { epsilon: number; delta: number; composition: 'basic' };
}

/** What someone did about a task on-chain, as the contract's events say (the coordinator's own sends: actions). */
export interface ChainEventView {
  /** null for the task as a whole (escrowed, reclaimed). */
  round: number | null;
  kind:
    | 'escrowed'
    | 'challenged'
    | 'answered'
    | 'voided'
    | 'omission claimed'
    | 'omission dismissed'
    | 'omission compensated'
    | 'claimed'
    | 'reclaimed';
  /** Who acted or was paid, or the challenged leaf ("leaf 2"). */
  subject: string;
  /** Token base units moved, where the event says. */
  amount: string | null;
  txHash: string;
  block: number;
}

/**
 * `GET /api/tasks/:id/settlement`: the coordinator's transactions for an `onchain` task, in order, and what the
 * chain recorded of everyone else (escrow, claims, challenges, omission claims and their outcomes).
 */
export interface SettlementView {
  actions: Array<{
    round: number;
    /** bond (before a round opens), open, close, answer (a challenge), show (an omission claim). */
    kind: string;
    /** For answer and show: the leaf index or the contributor. */
    subject: string;
    status: 'pending' | 'done' | 'failed';
    /** The transaction, once sent ('already done' when the chain held it before it was needed). */
    txHash: string | null;
    attempts: number;
    lastError: string | null;
  }>;
  events: ChainEventView[];
}
