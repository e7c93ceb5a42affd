/**
 * A model's trainable weights as one flat float32 vector: the unit of transfer, aggregation and hashing (its bytes
 * and hash: protocol/weights.ts).
 */
import * as tf from '@tensorflow/tfjs';

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
