/**
 * Aggregation: a running, sample-weighted sum of quantized updates (memory O(model), whatever the number of
 * clients) and the server strategies that turn the round's mean update into the next global model.
 */
import type { AggregationConfig } from '../protocol/task-spec.js';

/**
 * Σ n_k·Δ_k and Σ n_k over a round's accepted updates, in float64, where Δ_k = q_k·2^−f (each chunk at its own
 * scale). Every term n·q·2^−f is exact; the sums are taken in the order updates were accepted, which the round
 * record keeps, so anyone replaying that order (the public audit) gets the same bits.
 */
export class RunningSum {
  constructor(
    readonly sum: Float64Array,
    public totalWeight = 0,
    public count = 0,
  ) {}

  static empty(size: number): RunningSum {
    return new RunningSum(new Float64Array(size));
  }

  /** Adds n·q·2^−f, chunk k of `chunkSize` values at scale 2^−fractionBits[k]. */
  add(q: ArrayLike<number>, weight: number, fractionBits: readonly number[], chunkSize: number): void {
    if (q.length !== this.sum.length) throw new Error(`update has ${q.length} values, expected ${this.sum.length}`);
    if (fractionBits.length !== Math.ceil(q.length / chunkSize)) {
      throw new Error(`update has ${fractionBits.length} scales for ${Math.ceil(q.length / chunkSize)} chunks`);
    }
    for (let k = 0; k < fractionBits.length; k++) {
      const scale = weight * 2 ** -fractionBits[k]!;
      const end = Math.min(q.length, (k + 1) * chunkSize);
      for (let i = k * chunkSize; i < end; i++) this.sum[i]! += scale * q[i]!;
    }
    this.totalWeight += weight;
    this.count += 1;
  }

  /** The weighted mean update Σ n_k·Δ_k / Σ n_k. */
  mean(): Float64Array {
    if (this.totalWeight <= 0) throw new Error('no updates to average');
    return this.sum.map((value) => value / this.totalWeight);
  }
}

/** Server-side optimizer state carried from round to round (momentum, Adam moments); empty for FedAvg. */
export type StrategyState = Float32Array[];

export interface AggregationStrategy {
  readonly name: AggregationConfig['strategy'];
  /** Size of the state this strategy keeps, as multiples of the model size. */
  readonly stateSlots: number;
  /** Returns w_{r+1} from w_r and Δ̄; updates `state` in place. */
  apply(global: Float32Array, meanDelta: Float64Array, state: StrategyState): Float32Array;
}

/** FedAvg (McMahan et al., 2017): w ← w + η·Δ̄ (η = 1 is plain averaging of the local models). */
function fedAvg(learningRate: number): AggregationStrategy {
  return {
    name: 'fedavg',
    stateSlots: 0,
    apply: (global, meanDelta) => global.map((w, i) => w + learningRate * meanDelta[i]!),
  };
}

/** FedAvgM (Hsu et al., 2019): v ← β·v + Δ̄; w ← w + η·v. */
function fedAvgM(learningRate: number, momentum: number): AggregationStrategy {
  return {
    name: 'fedavgm',
    stateSlots: 1,
    apply: (global, meanDelta, [velocity]) =>
      global.map((w, i) => {
        const v = momentum * velocity![i]! + meanDelta[i]!;
        velocity![i] = v;
        return w + learningRate * v;
      }),
  };
}

/** FedAdam (Reddi et al., 2021): m ← β1·m + (1−β1)·Δ̄; v ← β2·v + (1−β2)·Δ̄²; w ← w + η·m / (√v + τ). */
function fedAdam(learningRate: number, beta1: number, beta2: number, tau: number): AggregationStrategy {
  return {
    name: 'fedadam',
    stateSlots: 2,
    apply: (global, meanDelta, [m, v]) =>
      global.map((w, i) => {
        const delta = meanDelta[i]!;
        const mi = beta1 * m![i]! + (1 - beta1) * delta;
        const vi = beta2 * v![i]! + (1 - beta2) * delta * delta;
        m![i] = mi;
        v![i] = vi;
        return w + (learningRate * mi) / (Math.sqrt(vi) + tau);
      }),
  };
}

export function createStrategy(config: AggregationConfig): AggregationStrategy {
  switch (config.strategy) {
    case 'fedavg':
      return fedAvg(config.serverLearningRate ?? 1);
    case 'fedavgm':
      return fedAvgM(config.serverLearningRate ?? 1, config.serverMomentum);
    case 'fedadam':
      return fedAdam(config.serverLearningRate ?? 0.01, config.beta1, config.beta2, config.epsilon);
  }
}

export function initialStrategyState(strategy: AggregationStrategy, size: number): StrategyState {
  return Array.from({ length: strategy.stateSlots }, () => new Float32Array(size));
}
