/** Real proven updates for hand-driven clients: what an honest client sends, or a variant bound to other values. */
import { type CircuitName, circuitNamed, circuitParams } from '../../circuits/params.js';
import { randomSalt } from '../../circuits/salt.js';
import { proveUpdate } from '../../circuits/prover.js';
import { taskStatement, type UpdateStatement } from '../../circuits/statement.js';
import type { TaskView } from '../../protocol/rest.js';
import { circuit } from './circuits.js';
import { bytesOf } from '../../common/bytes.js';
import { quantizationFor, quantizeUpdate } from '../../circuits/codec.js';
import { Random } from '../../common/random.js';
import { initBackend } from '../../ml/backend.js';
import { loadDataset } from '../../ml/dataset.js';
import { buildModel } from '../../ml/models.js';
import { trainingSeed, trainLocal } from '../../ml/train.js';
import { getFlatWeights, setFlatWeights } from '../../ml/weights.js';

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

/**
 * Proves `q` (at scales `fractionBits`, by default the hand-built ones) for `statement` and builds the message sent
 * `sendAs` (by default the statement's task and round).
 */
export async function provenUpdate(
  task: TaskView,
  statement: Omit<UpdateStatement, 'clipSquareX96'>,
  q: Int8Array,
  sendAs: { taskId: string; round: number } = { taskId: task.id, round: statement.round },
  fractionBits = handScales(task),
): Promise<WireUpdate> {
  const params = circuitNamed(task.zk.circuit);
  const name = (Object.keys(circuitParams) as CircuitName[]).find((key) => circuitParams[key] === params)!;
  const artifacts = await circuit(name);
  const salt = randomSalt();
  const proofs = await proveUpdate(
    { ...taskStatement(task, statement.round, statement.address, statement.modelHash), taskId: statement.taskId },
    salt,
    q,
    fractionBits,
    artifacts,
  );
  return { ...sendAs, numSamples: 100, q: bytesOf(q), fractionBits, salt: String(salt), proofs };
}

/**
 * What an honest client of `address` would send in round 1 of `task`: trained on the data set at `dataPath` from
 * the `global` weights, clipped and quantized, as the client does (client/client.ts).
 */
export async function trainedUpdate(
  task: TaskView,
  global: Float32Array,
  dataPath: string,
  address: string,
): Promise<{ q: Int8Array; fractionBits: number[] }> {
  const { spec } = task;
  await initBackend();
  const model = await buildModel(spec.model, spec.inputShape, spec.classes, spec.seed);
  setFlatWeights(model, global);
  const options = { inputShape: spec.inputShape, classes: spec.classes, seed: trainingSeed(address, 1) };
  await trainLocal(model, loadDataset(dataPath), spec.training, options);
  const delta = getFlatWeights(model).map((w, i) => w - global[i]!);
  model.dispose();
  return quantizedAsClient(task, delta, address, 1);
}

/** `delta` clipped and quantized as the client of `address` does in `round` of `task`. */
export function quantizedAsClient(
  task: TaskView,
  delta: Float32Array,
  address: string,
  round: number,
): { q: Int8Array; fractionBits: number[] } {
  const params = circuitNamed(task.zk.circuit);
  const { spec } = task;
  const quantization = quantizationFor(task.numParams, spec.clipNorm, params, spec.quantization.rounding)!;
  const random = new Random(trainingSeed(address, round) ^ 0x5eed);
  const { q, fractionBits } = quantizeUpdate(delta, quantization, params, () => random.next());
  return { q: Int8Array.from(q.subarray(0, task.numParams)), fractionBits };
}
