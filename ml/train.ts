/** Local training and evaluation on a data set held in memory, in batches that yield to the event loop. */
import * as tf from '@tensorflow/tfjs';
import { Random } from '../common/random.js';
import { ZkflError } from '../common/errors.js';
import type { TrainingConfig } from '../protocol/task-spec.js';
import { type Dataset, exampleSize } from './examples.js';

export interface TrainingProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  /** Running mean loss of the current epoch. */
  loss: number;
}

export interface TrainingResult {
  numSamples: number;
  /** Mean loss over the last epoch. */
  loss: number;
}

/** Throws DATA_MALFORMED unless `dataset` fits a model of this input shape and class count. */
export function checkCompatible(dataset: Dataset, inputShape: number[], classes: number): void {
  const expected = inputShape.reduce((a, b) => a * b, 1);
  if (exampleSize(dataset) !== expected) {
    throw new ZkflError(
      'DATA_MALFORMED',
      `examples have ${exampleSize(dataset)} values (shape [${dataset.exampleShape.join(', ')}]); the task expects [${inputShape.join(', ')}]`,
    );
  }
  const badLabel = dataset.labels.find((label) => label < 0 || label >= classes);
  if (badLabel !== undefined)
    throw new ZkflError('DATA_MALFORMED', `label ${badLabel} is outside the task's ${classes} classes`);
}

function batchTensors(dataset: Dataset, indices: ArrayLike<number>, inputShape: number[], classes: number) {
  const size = exampleSize(dataset);
  const x = new Float32Array(indices.length * size);
  const y = new Int32Array(indices.length);
  for (let row = 0; row < indices.length; row++) {
    const source = indices[row]!;
    x.set(dataset.features.subarray(source * size, (source + 1) * size), row * size);
    y[row] = dataset.labels[source]!;
  }
  return tf.tidy(() => ({
    xs: tf.tensor(x, [indices.length, ...inputShape]),
    ys: tf.oneHot(tf.tensor1d(y, 'int32'), classes),
  }));
}

function makeOptimizer(config: TrainingConfig): tf.Optimizer {
  switch (config.optimizer) {
    case 'sgd':
      return tf.train.sgd(config.learningRate);
    case 'momentum':
      return tf.train.momentum(config.learningRate, 0.9);
    case 'adam':
      return tf.train.adam(config.learningRate);
  }
}

/** The seed a client's local training in `round` shuffles with: fixed by its address, so runs are reproducible. */
export function trainingSeed(address: string, round: number): number {
  return (Number.parseInt(address.slice(2, 10), 16) ^ (round * 2654435761)) >>> 0;
}

// setImmediate in Node; a browser has none, and a zero timeout does there.
const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => ('setImmediate' in globalThis ? setImmediate(resolve) : setTimeout(resolve, 0)));

/**
 * Trains `model` in place for `config.localEpochs` passes over `dataset`. With `proximalMu` > 0 the loss gains
 * FedProx's μ/2·‖w − w_start‖², which keeps heterogeneous clients near the global model.
 */
export async function trainLocal(
  model: tf.LayersModel,
  dataset: Dataset,
  config: TrainingConfig,
  options: { inputShape: number[]; classes: number; seed: number; onProgress?: (progress: TrainingProgress) => void },
): Promise<TrainingResult> {
  const { inputShape, classes, onProgress } = options;
  checkCompatible(dataset, inputShape, classes);
  const random = new Random(options.seed);
  const optimizer = makeOptimizer(config);
  const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const start = config.proximalMu > 0 ? variables.map((variable) => tf.keep(variable.clone())) : [];
  const batches = Math.ceil(dataset.count / config.batchSize);
  let epochLoss = 0;
  try {
    for (let epoch = 1; epoch <= config.localEpochs; epoch++) {
      const order = random.shuffle(Array.from({ length: dataset.count }, (_, i) => i));
      let lossSum = 0;
      for (let batch = 0; batch < batches; batch++) {
        const indices = order.slice(batch * config.batchSize, (batch + 1) * config.batchSize);
        const { xs, ys } = batchTensors(dataset, indices, inputShape, classes);
        const loss = optimizer.minimize(
          () =>
            tf.tidy(() => {
              const logits = model.apply(xs, { training: true }) as tf.Tensor;
              const crossEntropy = tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(ys, logits);
              if (start.length === 0) return crossEntropy;
              const drift = variables.map((variable, i) => tf.sum(tf.square(tf.sub(variable, start[i]!))));
              return tf.add<tf.Scalar>(crossEntropy, tf.mul(config.proximalMu / 2, tf.addN(drift)));
            }),
          true,
          variables,
        );
        lossSum += loss ? (await loss.data())[0]! : 0;
        tf.dispose(loss ? [xs, ys, loss] : [xs, ys]);
        onProgress?.({ epoch, epochs: config.localEpochs, batch: batch + 1, batches, loss: lossSum / (batch + 1) });
        await yieldToEventLoop();
      }
      epochLoss = lossSum / batches;
    }
  } finally {
    optimizer.dispose();
    tf.dispose(start);
  }
  return { numSamples: dataset.count, loss: epochLoss };
}

export interface Evaluation {
  accuracy: number;
  loss: number;
}

/** Accuracy and mean softmax cross-entropy of `model` on `dataset`. */
export async function evaluate(
  model: tf.LayersModel,
  dataset: Dataset,
  inputShape: number[],
  classes: number,
  batchSize = 1000,
): Promise<Evaluation> {
  checkCompatible(dataset, inputShape, classes);
  let correct = 0;
  let lossSum = 0;
  for (let offset = 0; offset < dataset.count; offset += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, dataset.count - offset) }, (_, i) => offset + i);
    const { xs, ys } = batchTensors(dataset, indices, inputShape, classes);
    const [hits, loss] = tf.tidy(() => {
      const logits = model.predict(xs) as tf.Tensor;
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(ys, 1)), 'float32'));
      const loss = tf.losses.softmaxCrossEntropy(ys, logits, undefined, undefined, tf.Reduction.SUM);
      return [hits, loss];
    });
    correct += (await hits.data())[0]!;
    lossSum += (await loss.data())[0]!;
    tf.dispose([xs, ys, hits, loss]);
    await yieldToEventLoop();
  }
  return { accuracy: correct / dataset.count, loss: lossSum / dataset.count };
}
