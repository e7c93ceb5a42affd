/** Where the Debian package `dataset-fashion-mnist` puts its files, overridable with ZKFL_FASHION_MNIST. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ZkflError } from '../common/errors.js';

export const defaultFashionMnistDir = '/usr/share/datasets/fashion-mnist';

/** Returns the train and test IDX prefixes in `dir`, or explains how to install the data set. */
export function fashionMnist(dir: string): { train: string; test: string } {
  const train = join(dir, 'train');
  const test = join(dir, 't10k');
  if (!existsSync(`${train}-images-idx3-ubyte.gz`) || !existsSync(`${test}-images-idx3-ubyte.gz`)) {
    throw new ZkflError(
      'DATA_MISSING',
      `Fashion-MNIST not found in ${dir}: install it with \`apt-get install -y dataset-fashion-mnist\` or set ZKFL_FASHION_MNIST`,
    );
  }
  return { train, test };
}
