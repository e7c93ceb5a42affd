/**
 * FedAvg in one process, with the library's own local training, quantization and aggregation: the float baseline
 * bench:fedavg compares the real run with (same partition, model seed and per-client training seeds), or a
 * quantized path for quick comparisons of quantization settings.
 */
import { quantizationFor, quantizeUpdate } from '../../circuits/codec.js';
import type { CircuitParams } from '../../circuits/params.js';
import { Random } from '../../common/random.js';
import { createStrategy, RunningSum } from '../../ml/aggregation.js';
import type { Dataset } from '../../ml/dataset.js';
import { buildModel } from '../../ml/models.js';
import { evaluate, trainingSeed, trainLocal } from '../../ml/train.js';
import { getFlatWeights, setFlatWeights } from '../../ml/weights.js';
import { aggregationSchema, type ModelSpec, type TrainingConfig } from '../../protocol/task-spec.js';

export interface SimulationOptions {
  model: ModelSpec;
  seed: number;
  rounds: number;
  training: TrainingConfig;
  /** One data set per client, and the address its training is seeded with (as the real client seeds it). */
  clients: Array<{ address: string; data: Dataset }>;
  test: Dataset;
  /** Quantize each update as a client would (clip τ, circuit's chunking and bits); float updates without. */
  quantize?: { clipNorm: number; params: CircuitParams; rounding: 'stochastic' | 'nearest' };
  onRound?: (round: SimulatedRound) => void;
}

export interface SimulatedRound {
  round: number;
  accuracy: number;
  loss: number;
  seconds: number;
  /** The largest L2 norm of a client's update this round (before any clipping). */
  maxUpdateNorm: number;
}

export async function simulateFedAvg(options: SimulationOptions): Promise<SimulatedRound[]> {
  const model = await buildModel(options.model, [28, 28, 1], 10, options.seed);
  const strategy = createStrategy(
    aggregationSchema.parse({ strategy: 'fedavg', weights: 'samples', replicaDistance: 0, contributorsOnly: false }),
  );
  let global = getFlatWeights(model);
  const results = [];
  for (let round = 1; round <= options.rounds; round++) {
    const started = Date.now();
    const sum = RunningSum.empty(global.length);
    let maxUpdateNorm = 0;
    for (const client of options.clients) {
      setFlatWeights(model, global);
      const { numSamples } = await trainLocal(model, client.data, options.training, {
        inputShape: [28, 28, 1],
        classes: 10,
        seed: trainingSeed(client.address, round),
      });
      const local = getFlatWeights(model);
      const delta = local.map((value, i) => value - global[i]!);
      maxUpdateNorm = Math.max(maxUpdateNorm, Math.sqrt(delta.reduce((total, value) => total + value * value, 0)));
      if (options.quantize) {
        const { clipNorm, params, rounding } = options.quantize;
        const quantization = quantizationFor(global.length, clipNorm, params, rounding)!;
        const random = new Random(trainingSeed(client.address, round) ^ 0x5eed);
        const { q, fractionBits } = quantizeUpdate(delta, quantization, params, () => random.next());
        sum.add(q.subarray(0, global.length), numSamples, fractionBits, params.chunkSize);
      } else {
        sum.add(delta, numSamples, [0], global.length);
      }
    }
    global = strategy.apply(global, sum.mean(), []);
    setFlatWeights(model, global);
    const metrics = await evaluate(model, options.test, [28, 28, 1], 10);
    const result = { round, ...metrics, seconds: (Date.now() - started) / 1000, maxUpdateNorm };
    options.onRound?.(result);
    results.push(result);
  }
  model.dispose();
  return results;
}
