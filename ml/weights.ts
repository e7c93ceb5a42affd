/** A model's trainable weights as one flat float32 vector: the unit of transfer, aggregation and hashing. */
import * as tf from '@tensorflow/tfjs';
import { ZkflError } from '../protocol/errors.js';
import { alignedBuffer, bytesOf, sha256Hex } from '../common/bytes.js';

export function countParams(model: tf.LayersModel): number {
  return model.getWeights().reduce((total, weight) => total + weight.size, 0);
}

export function getFlatWeights(model: tf.LayersModel): Float32Array {
  const weights = model.getWeights();
  const flat = new Float32Array(countParams(model));
  let offset = 0;
  for (const weight of weights) {
    flat.set(weight.dataSync(), offset);
    offset += weight.size;
  }
  return flat;
}

export function setFlatWeights(model: tf.LayersModel, flat: Float32Array): void {
  const expected = countParams(model);
  if (flat.length !== expected) throw new Error(`expected ${expected} weights, got ${flat.length}`);
  const current = model.getWeights();
  let offset = 0;
  const next = current.map((weight) => {
    const tensor = tf.tensor(flat.subarray(offset, offset + weight.size), weight.shape, 'float32');
    offset += weight.size;
    return tensor;
  });
  model.setWeights(next);
  tf.dispose(next);
}

/** sha256 of the little-endian float32 bytes: the global-model hash H_r. */
export function hashWeights(flat: Float32Array): string {
  return sha256Hex(toBytes(flat));
}

export const toBytes = (flat: Float32Array): Uint8Array => bytesOf(flat);

/** Reads float32 values from bytes received off the wire (copied: socket buffers need not be 4-byte aligned). */
export function fromBytes(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new ZkflError('WRONG_LENGTH', `${bytes.byteLength} bytes is not a whole number of float32 values`);
  }
  return new Float32Array(alignedBuffer(bytes));
}
