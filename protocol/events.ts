/**
 * What crosses the socket: the typed event maps that parameterise socket.io's `Server` and client `Socket`, and
 * the schemas every inbound payload is checked against. Weights and updates travel as raw little-endian float32
 * bytes (socket.io binary attachments), not as JSON arrays.
 */
import { z } from 'zod';
import type { Receipt } from './receipt.js';
import type { TaskStatus } from './states.js';
import { consentSchema } from './terms.js';
import type { ErrorBody } from '../common/errors.js';
import type { TrainingConfig } from './task-spec.js';

// The socket.io handshake `auth` object is a Sign-In with Ethereum message and its signature (protocol/sign-in.ts).

const taskId = z.string().min(1).max(64);
const binary = z.custom<Uint8Array>((value) => value instanceof Uint8Array, { message: 'expected binary data' });

/** The BN254 scalar field order, duplicated from circuits/codec.ts so that protocol/ depends on nothing. */
const FIELD_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
/** A canonical field element: a decimal string below the field order. */
const fieldElement = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,76})$/, 'expected a decimal field element')
  .refine((value) => BigInt(value) < FIELD_ORDER, 'outside the field');

export const chunkProofSchema = z.strictObject({
  proof: z.strictObject({
    pi_a: z.array(fieldElement).length(3),
    pi_b: z.array(z.array(fieldElement).length(2)).length(3),
    pi_c: z.array(fieldElement).length(3),
    protocol: z.literal('groth16'),
    curve: z.literal('bn128'),
  }),
  /** commitment, statement (circuits/statement.ts). */
  publicSignals: z.array(fieldElement).max(64),
});

export const joinPayloadSchema = z.strictObject({
  taskId,
  /** The holder's signed consent to the task's current terms (protocol/terms.ts); needed once per task. */
  consent: consentSchema.optional(),
});
export type JoinPayload = z.infer<typeof joinPayloadSchema>;

export const updatePayloadSchema = z.strictObject({
  taskId,
  round: z.number().int().min(1),
  /**
   * Examples the update was trained on: its FedAvg weight. At most 2^20, so that every term n·q·2^−f of the
   * round's sum is exact in float64.
   */
  numSamples: z
    .number()
    .int()
    .positive()
    .max(2 ** 20),
  /**
   * The quantized update q = round(clip(w_local − w_global)·2^f), one per parameter, as little-endian integers:
   * int8 for tasks of up to 8 bits per value (`quantization.bits`), int16 above.
   */
  q: binary,
  /** Each chunk's scale exponent f: chunk k stands for q·2^−f[k] (circuits/codec.ts). */
  fractionBits: z.array(z.number().int().min(0).max(63)).max(10_000),
  /** The commitments' salt (a field element); with the proofs. */
  salt: fieldElement.optional(),
  /** One Groth16 proof per chunk of q, in chunk order; required unless the task turned proofs off. */
  proofs: z.array(chunkProofSchema).max(10_000).optional(),
  /** Mean training loss of the last local epoch, for the round record. */
  trainLoss: z.number().finite().optional(),
});
export type UpdatePayload = z.infer<typeof updatePayloadSchema>;

/** What the coordinator keeps of an update: all that makes a second sending of it the same update. */
export type SentUpdate = Pick<UpdatePayload, 'numSamples' | 'q' | 'fractionBits' | 'proofs' | 'salt'>;

/** Whether two updates are the same one, byte for byte: one sent again because its answer was lost. */
export function sameUpdate(a: SentUpdate, b: SentUpdate): boolean {
  return (
    a.numSamples === b.numSamples &&
    a.q.length === b.q.length &&
    a.q.every((value, i) => value === b.q[i]) &&
    JSON.stringify(a.fractionBits) === JSON.stringify(b.fractionBits) &&
    JSON.stringify(a.proofs ?? []) === JSON.stringify(b.proofs ?? []) &&
    (a.salt ?? null) === (b.salt ?? null)
  );
}

export interface RoundStartPayload {
  taskId: string;
  round: number;
  /** sha256 of the global weights below: what the update is computed against. */
  modelHash: string;
  weights: Uint8Array;
  /** Epoch milliseconds by which the update must arrive. */
  deadline: number;
  training: TrainingConfig;
}

export interface RoundEndPayload {
  taskId: string;
  round: number;
  accuracy: number;
  loss: number;
  participants: number;
  proofsVerified: number;
  proofsRejected: number;
}

export interface TaskEndPayload {
  taskId: string;
  status: TaskStatus;
}

export type Ack<T extends object = object> = (response: ({ ok: true } & T) | { ok: false; error: ErrorBody }) => void;

export interface ClientToServerEvents {
  join: (payload: JoinPayload, ack: Ack<{ round: number }>) => void;
  /** Acknowledged with the coordinator's signed receipt when the task takes proofs. */
  update: (payload: UpdatePayload, ack: Ack<{ receipt?: Receipt }>) => void;
}

export interface ServerToClientEvents {
  'round:start': (payload: RoundStartPayload) => void;
  'round:end': (payload: RoundEndPayload) => void;
  'task:end': (payload: TaskEndPayload) => void;
  /**
   * The update the client sent is kept, but its verdict is delayed by a fault of the coordinator's verifiers (a
   * worker died, say): it is being verified again, and the ack follows.
   */
  'update:pending': (payload: { taskId: string; round: number; reason: string }) => void;
  /** An event the server could not take (unknown name, or sent without an ack callback). */
  'zkfl:error': (error: ErrorBody) => void;
}

export const clientEventNames: ReadonlyArray<keyof ClientToServerEvents> = ['join', 'update'];
