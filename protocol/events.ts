/**
 * What crosses the socket: the typed event maps that parameterise socket.io's `Server` and client `Socket`, and
 * the schemas every inbound payload is checked against. Weights and updates travel as raw little-endian float32
 * bytes (socket.io binary attachments), not as JSON arrays.
 */
import { z } from 'zod';
import type { ErrorBody } from './errors.js';
import type { TrainingConfig } from './task-spec.js';

/** The text a client signs with its Ethereum key (EIP-191) to prove it holds the address it claims. */
export function authMessage(nonce: string): string {
  return `zkfl login\nnonce: ${nonce}`;
}

/** The socket.io handshake `auth` object. */
export const handshakeAuthSchema = z.strictObject({
  address: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  nonce: z.string().min(16).max(128),
  signature: z
    .string()
    .regex(/^0x[0-9a-fA-F]+$/)
    .max(200),
});
export type HandshakeAuth = z.infer<typeof handshakeAuthSchema>;

const taskId = z.string().min(1).max(64);
const binary = z.custom<Uint8Array>((value) => value instanceof Uint8Array, { message: 'expected binary data' });

export const joinPayloadSchema = z.strictObject({ taskId });
export type JoinPayload = z.infer<typeof joinPayloadSchema>;

export const updatePayloadSchema = z.strictObject({
  taskId,
  round: z.number().int().min(1),
  /** Examples the update was trained on: its FedAvg weight. */
  numSamples: z.number().int().positive().max(1e9),
  /** w_local − w_global, float32 little-endian, one value per model parameter. */
  delta: binary,
  /** Mean training loss of the last local epoch, for the round record. */
  trainLoss: z.number().optional(),
});
export type UpdatePayload = z.infer<typeof updatePayloadSchema>;

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
}

export interface TaskEndPayload {
  taskId: string;
  status: TaskStatus;
}

export type Ack<T extends object = object> = (response: ({ ok: true } & T) | { ok: false; error: ErrorBody }) => void;

export interface ClientToServerEvents {
  join: (payload: JoinPayload, ack: Ack<{ round: number }>) => void;
  update: (payload: UpdatePayload, ack: Ack) => void;
}

export interface ServerToClientEvents {
  'round:start': (payload: RoundStartPayload) => void;
  'round:end': (payload: RoundEndPayload) => void;
  'task:end': (payload: TaskEndPayload) => void;
  /** An event the server could not take (unknown name, or sent without an ack callback). */
  'zkfl:error': (error: ErrorBody) => void;
}

export const clientEventNames: ReadonlyArray<keyof ClientToServerEvents> = ['join', 'update'];

export const taskStatuses = ['running', 'completed', 'failed'] as const;
export type TaskStatus = (typeof taskStatuses)[number];

export const roundPhases = ['open', 'training', 'aggregating', 'evaluated'] as const;
export type RoundPhase = (typeof roundPhases)[number];
