/** Small real data for integration tests: Fashion-MNIST shards, and a task that trains fast on them. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PNG } from 'pngjs';
import { type Dataset, exampleSize, loadDataset, saveIdx } from '../../ml/dataset.js';
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

/**
 * `count` Fashion-MNIST training examples from `offset` as a CSV file in the CLI's format (features to three places,
 * then the label), as a person with a spreadsheet would have them; returns its path.
 */
export function writeCsv(path: string, count: number, offset = 0): string {
  trainSet ??= loadDataset(join(fashionMnistDir, 'train'));
  const size = exampleSize(trainSet);
  const rows = Array.from({ length: count }, (_, row) => {
    const i = offset + row;
    const features = Array.from(trainSet!.features.subarray(i * size, (i + 1) * size), (value) => value.toFixed(3));
    return [...features, trainSet!.labels[i]].join(',');
  });
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, rows.join('\n') + '\n');
  return path;
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

/**
 * The same examples as a folder of images, as a person with photos would have them: `<dir>/<label>/<i>.png`, one
 * grey PNG per 28×28 example (examples are in [0, 1]); returns the folder.
 */
export function writeImageFolder(dataPath: string, dir: string): string {
  const data = loadDataset(dataPath);
  const [height, width] = data.exampleShape as [number, number];
  const size = exampleSize(data);
  for (let i = 0; i < data.count; i++) {
    const png = new PNG({ width, height });
    for (let p = 0; p < size; p++) {
      png.data.fill(Math.round(data.features[i * size + p]! * 255), p * 4, p * 4 + 3);
      png.data[p * 4 + 3] = 255;
    }
    const folder = join(dir, String(data.labels[i]));
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, `${i}.png`), PNG.sync.write(png));
  }
  return dir;
}
