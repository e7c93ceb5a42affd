/**
 * What a verifier reads to audit a run without trusting the coordinator: per round, a record of what the
 * coordinator saw and did (H_r, every accepted update's commitment and proofs, every rejection, H_{r+1}, metrics),
 * signed by the coordinator's key — the address the task's on-chain record names — so an edited record is caught
 * even offline. Records are signed over keccak256 of their canonical JSON (keys sorted), as EIP-191 messages.
 */
import type { RoundPrivacy } from './privacy.js';
import { getBytes, keccak256, type Signer, toUtf8Bytes, verifyMessage } from 'ethers';
import type { Groth16Proof } from 'snarkjs';
import { canonicalJson } from './canonical.js';
import type { ErrorCode } from '../common/errors.js';
import type { InfoView, TaskView } from './rest.js';
import type { Consent, TermsView } from './terms.js';

export interface AuditedUpdate {
  address: string;
  numSamples: number;
  /** keccak256 of the chunk commitments (contracts/accepted-set.ts). */
  commitment: string;
  /** Each chunk's scale exponent f (the update is q·2^−f), bound into its proof's statement. */
  fractionBits: number[];
  proofs: Array<{ proof: Groth16Proof; publicSignals: string[] }>;
  /** Contribution score (ml/scoring.ts: Shapley value of the evaluation loss reduction) and the amount it earned. */
  score: number;
  /** Token base units, decimal: this leaf's amount in the round's accepted set. */
  amount: string;
  /** Only for tasks created with `publicAudit`: the quantized update (B-bit integers LE, base64) and its salt. */
  update?: { q: string; salt: string };
}

export interface RoundRecord {
  taskId: string;
  round: number;
  /** The coordinator that signs this record. */
  coordinator: string;
  /** H_r: sha256 of the global weights the round trained from. */
  modelHashBefore: string;
  /** H_{r+1}: sha256 of the aggregate. */
  modelHashAfter: string;
  accuracy: number;
  loss: number;
  /** The Merkle root of the accepted (address, commitment) pairs, as posted on-chain for `onchain` tasks. */
  acceptedRoot: string;
  /** In the order they were accepted: the order the aggregate sums them in. */
  accepted: AuditedUpdate[];
  /** How the accepted updates were scored and what the round's pool was (ml/scoring.ts). */
  scoring: {
    method: 'exact' | 'gtg-shapley';
    /** Coalitions evaluated. */
    evaluations: number;
    seconds: number;
    /** v(all) − v(∅): the loss reduction of the round's aggregate on the scoring set. */
    roundGain: number;
    /** Scoring-set size: the first `examples` of the evaluation set. */
    examples: number;
    /** The round's pool in token base units (rewards.perRound), split by the reward rule. */
    pool: string;
    /**
     * Accepted updates counted as one (ml/replicas.ts), by sender, in acceptance order: each group was one player
     * whose value its members split. Absent when every update counted alone.
     */
    replicas?: string[][];
    /**
     * `aggregation.contributorsOnly`: accepted updates left out of the aggregate, by sender, in acceptance order:
     * replays of the last round's step, noise (`aggregation.leaveOutNoise`, ml/noise.ts), and groups worth nothing
     * in the round's game. Absent when none was.
     */
    leftOut?: Array<{ address: string; why: 'replay' | 'noise' | 'no value' }>;
  };
  /**
   * `aggregation.rule: fltrust`, except in a private task: the length of the root update g₀ and each accepted
   * update's trust, in acceptance order (ml/fltrust.ts), from which its scores and aggregate are recomputed exactly.
   */
  aggregation?: { rootNorm: number; trust: Array<{ address: string; trust: number }> };
  /** A private task's round (spec.privacy): its sampling, its noise, and the ε spent up to it. */
  privacy?: RoundPrivacy;
  /** Rejected updates as the round lists them (a bounded number per address and per round)… */
  rejected: Array<{ address: string; code: ErrorCode; reason: string }>;
  /** …and how many more were rejected. */
  rejectedUnlisted: number;
}

export interface SignedRoundRecord {
  record: RoundRecord;
  /** EIP-191 signature of recordDigest(record) by record.coordinator. */
  signature: string;
}

/** `GET /api/audit/tasks/:id`, and `zkfl audit export`'s bundle. */
export interface AuditBundle {
  task: TaskView;
  /**
   * The snarkjs verification key of the task's circuit, as the exact text of its file, so that its sha256 is the
   * task's `zk.verificationKeySha256` (null for a task without proofs).
   */
  verificationKey: string | null;
  coordinator: string;
  chain: InfoView['chain'];
  /** Finished rounds, in order. */
  rounds: SignedRoundRecord[];
  /** publicAudit tasks only: the initial global weights (float32 LE, base64), so aggregates can be recomputed. */
  initialWeights?: string;
  /**
   * publicAudit tasks only: the scoring set (the first `rewards.scoringExamples` of the evaluation set), so scores
   * can be recomputed: float32 LE features and int32 LE labels, base64.
   */
  scoringSet?: ScoringSet;
  /** The task's terms and every contributor's signed consent to them. */
  terms: TermsView;
  consents: Array<Consent & { address: string }>;
}

export function recordDigest(record: RoundRecord): string {
  return keccak256(toUtf8Bytes(canonicalJson(record)));
}

export async function signRecord(signer: Signer, record: RoundRecord): Promise<SignedRoundRecord> {
  return { record, signature: await signer.signMessage(getBytes(recordDigest(record))) };
}

/** The address that signed the record (compare with record.coordinator and the on-chain coordinator). */
export function recordSigner(signed: SignedRoundRecord): string {
  return verifyMessage(getBytes(recordDigest(signed.record)), signed.signature);
}

/** Examples as an audit bundle carries them: features (float32 LE) and labels (int32 LE), base64. */
export interface ScoringSet {
  features: string;
  labels: string;
  exampleShape: number[];
}
