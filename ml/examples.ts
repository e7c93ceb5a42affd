/**
 * A data set in memory, and what any platform does with one: its example size, a prefix, a subset. Reading files is
 * ml/dataset.ts's (Node); this module imports nothing platform-specific, so that a browser can train on what it read.
 */
import type { ParsedData } from './data-parsers.js';

/** A data set in memory: row-major features and a label per example (see ParsedData). */
export type Dataset = ParsedData;

export function exampleSize(dataset: Pick<Dataset, 'exampleShape'>): number {
  return dataset.exampleShape.reduce((a, b) => a * b, 1);
}

/** Keeps the first `limit` examples (a view, no copy). */
export function head(dataset: Dataset, limit: number | undefined): Dataset {
  if (limit === undefined || limit >= dataset.count) return dataset;
  const size = exampleSize(dataset);
  return {
    ...dataset,
    count: limit,
    features: dataset.features.subarray(0, limit * size),
    labels: dataset.labels.subarray(0, limit),
  };
}

/** The examples at `indices`, copied, in that order (a client's shard of a partitioned set). */
export function subset(dataset: Dataset, indices: ArrayLike<number>): Dataset {
  const size = exampleSize(dataset);
  const features = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let row = 0; row < indices.length; row++) {
    const source = indices[row]!;
    features.set(dataset.features.subarray(source * size, (source + 1) * size), row * size);
    labels[row] = dataset.labels[source]!;
  }
  return { ...dataset, features, labels, count: indices.length };
}
