/** Small real data for integration tests: Fashion-MNIST shards, and a task that trains fast on them. */
import { join } from 'node:path';
import { type Dataset, loadDataset, saveIdx } from '../../ml/dataset.js';
import type { TaskSpecInput } from '../../protocol/task-spec.js';

export const fashionMnistDir = process.env.ZKFL_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
export const testPrefix = join(fashionMnistDir, 't10k');
/** Coordinators in tests name evaluation sets under this data root. */
export const dataRoot = fashionMnistDir;

let trainSet: Dataset | undefined;

/** Writes `sizes.length` disjoint shards of the Fashion-MNIST training set; returns their IDX prefixes. */
export function writeShards(dir: string, sizes: number[]): string[] {
  trainSet ??= loadDataset(join(fashionMnistDir, 'train'));
  let offset = 0;
  return sizes.map((size, i) => {
    const prefix = join(dir, `shard-${i}`, 'data');
    saveIdx(
      prefix,
      trainSet!,
      Array.from({ length: size }, (_, j) => offset + j),
    );
    offset += size;
    return prefix;
  });
}

export function smallTask(overrides: Partial<TaskSpecInput> = {}): TaskSpecInput {
  return {
    name: 'integration test',
    // 2,724 parameters: one chunk of the default circuit, so one proof per client per round.
    model: { preset: 'cnn', filters: [4, 10], hidden: [] },
    rounds: 2,
    clientsPerRound: { min: 2, target: 2 },
    training: { localEpochs: 1, batchSize: 32, learningRate: 0.05 },
    roundDeadlineSeconds: 30,
    evaluation: { path: 't10k', limit: 500 },
    ...overrides,
  };
}
