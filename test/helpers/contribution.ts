/** Real proven updates for hand-driven clients: what an honest client sends, or a variant bound to other values. */
import { type CircuitName, circuitNamed, circuitParams } from '../../circuits/params.js';
import { randomSalt } from '../../circuits/commitment.js';
import { proveUpdate } from '../../circuits/prover.js';
import type { UpdateStatement } from '../../circuits/statement.js';
import type { TaskView } from '../../protocol/rest.js';
import { circuit } from './circuits.js';
import { bytesOf } from '../../common/bytes.js';

export interface WireUpdate {
  taskId: string;
  round: number;
  numSamples: number;
  q: Uint8Array;
  fractionBits: number[];
  salt?: string;
  proofs?: Array<{ proof: object; publicSignals: string[] }>;
}

/** A small valid quantized update: values in [−3, 3]. */
export function smallUpdate(numParams: number, seed = 1): Int8Array {
  return Int8Array.from({ length: numParams }, (_, i) => ((i * 7 + seed) % 7) - 3);
}

/** The scale hand-built updates use: small values at 2^−10 stay far within any test task's norm bound. */
export const HAND_FRACTION_BITS = 10;

/** The per-chunk scales of a hand-built update for `task`. */
export const handScales = (task: TaskView): number[] => Array<number>(task.zk.chunks).fill(HAND_FRACTION_BITS);

/** Proves `q` for `statement` (defaults: this task, round, address and model hash) and builds the message. */
export async function provenUpdate(
  task: TaskView,
  statement: Omit<UpdateStatement, 'clipSquareX96'>,
  q: Int8Array,
  sendAs: { taskId: string; round: number } = { taskId: task.id, round: statement.round },
): Promise<WireUpdate> {
  const params = circuitNamed(task.zk.circuit);
  const name = (Object.keys(circuitParams) as CircuitName[]).find((key) => circuitParams[key] === params)!;
  const artifacts = await circuit(name);
  const salt = randomSalt();
  const fractionBits = handScales(task);
  const proofs = await proveUpdate(
    { ...statement, clipSquareX96: BigInt(task.zk.clipSquareX96) },
    salt,
    q,
    fractionBits,
    artifacts,
  );
  return { ...sendAs, numSamples: 100, q: bytesOf(q), fractionBits, salt: String(salt), proofs };
}
