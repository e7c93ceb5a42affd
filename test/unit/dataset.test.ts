import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type Dataset, head, loadDataset, saveIdx } from '../../ml/dataset.js';
import { ZkflError } from '../../protocol/errors.js';
import { tempDir } from '../helpers/temp.js';

function codeOf(work: () => unknown): string | undefined {
  try {
    work();
  } catch (error) {
    return error instanceof ZkflError ? error.code : `not a ZkflError: ${String(error)}`;
  }
  return undefined;
}

describe('data sets', () => {
  const dir = tempDir();
  const images: Dataset = {
    features: Float32Array.from({ length: 3 * 4 }, (_, i) => i / 255),
    labels: Int32Array.of(2, 0, 1),
    count: 3,
    exampleShape: [2, 2],
  };

  it('reads back the IDX files it writes, for a prefix, a directory and a subset', () => {
    saveIdx(join(dir, 'shard'), images);
    const loaded = loadDataset(join(dir, 'shard'));
    expect(loaded.count).to.equal(3);
    expect(loaded.exampleShape).to.deep.equal([2, 2]);
    expect(Array.from(loaded.labels)).to.deep.equal([2, 0, 1]);
    expect(Array.from(loaded.features)).to.deep.equal(Array.from(images.features));
    expect(loadDataset(dir).count).to.equal(3);
    const subset = join(dir, 'subset');
    saveIdx(join(subset, 'part'), images, [2, 0]);
    expect(Array.from(loadDataset(subset).labels)).to.deep.equal([1, 2]);
    expect(head(loaded, 2).count).to.equal(2);
  });

  it('reads the Debian Fashion-MNIST test set', () => {
    const test = loadDataset('/usr/share/datasets/fashion-mnist/t10k');
    expect(test.count).to.equal(10_000);
    expect(test.exampleShape).to.deep.equal([28, 28]);
    expect(Math.max(...test.labels)).to.equal(9);
  });

  it('reads CSV with or without a header', () => {
    writeFileSync(join(dir, 'with-header.csv'), 'a,b,label\n0.5,1,1\n2,3,0\n');
    writeFileSync(join(dir, 'plain.csv'), '0.5,1,1\n2,3,0\n');
    for (const name of ['with-header.csv', 'plain.csv']) {
      const loaded = loadDataset(join(dir, name));
      expect(loaded.count).to.equal(2);
      expect(loaded.exampleShape).to.deep.equal([2]);
      expect(Array.from(loaded.features)).to.deep.equal([0.5, 1, 2, 3]);
      expect(Array.from(loaded.labels)).to.deep.equal([1, 0]);
    }
  });

  it('reads gzipped CSV, and a directory holding one CSV file', () => {
    const one = join(dir, 'one-csv');
    mkdirSync(one);
    writeFileSync(join(one, 'data.csv.gz'), gzipSync('a,b,label\n0.5,1,1\n2,3,0\n'));
    for (const path of [join(one, 'data.csv.gz'), one]) {
      expect(Array.from(loadDataset(path).features)).to.deep.equal([0.5, 1, 2, 3]);
    }
    saveIdx(join(one, 'also'), images);
    expect(codeOf(() => loadDataset(one))).to.equal('DATA_MALFORMED');
    // A gzip bomb: a few hundred bytes that expand to a megabyte, read with a 100 KB bound.
    writeFileSync(join(dir, 'bomb.csv.gz'), gzipSync(Buffer.alloc(1 << 20, '0')));
    expect(() => loadDataset(join(dir, 'bomb.csv.gz'), 100_000)).to.throw(/expands to more than 100000 bytes/);
    writeFileSync(join(dir, 'broken.csv.gz'), 'not gzip');
    expect(codeOf(() => loadDataset(join(dir, 'broken.csv.gz')))).to.equal('DATA_MALFORMED');
  });

  it('names what is wrong with a bad file', () => {
    writeFileSync(join(dir, 'ragged.csv'), '1,2,0\n1,0\n');
    writeFileSync(join(dir, 'text.csv'), '1,2,0\n1,x,0\n');
    writeFileSync(join(dir, 'fraction.csv'), '1,2,0.5\n');
    writeFileSync(join(dir, 'bad-images-idx3-ubyte.gz'), 'not gzip');
    writeFileSync(join(dir, 'bad-labels-idx1-ubyte.gz'), gzipSync(Buffer.from([0, 0, 8, 1, 0, 0, 0, 1, 3])));
    writeFileSync(join(dir, 'magic-images-idx3-ubyte'), Buffer.from([1, 2, 3, 4]));
    writeFileSync(join(dir, 'magic-labels-idx1-ubyte'), Buffer.from([0, 0, 8, 1, 0, 0, 0, 0]));
    expect(codeOf(() => loadDataset(join(dir, 'nothing-here.csv')))).to.equal('DATA_MISSING');
    expect(codeOf(() => loadDataset(join(dir, 'nothing-here')))).to.equal('DATA_MISSING');
    expect(codeOf(() => loadDataset(join(dir, 'ragged.csv')))).to.equal('DATA_MALFORMED');
    expect(codeOf(() => loadDataset(join(dir, 'text.csv')))).to.equal('DATA_MALFORMED');
    expect(codeOf(() => loadDataset(join(dir, 'fraction.csv')))).to.equal('DATA_MALFORMED');
    expect(codeOf(() => loadDataset(join(dir, 'bad')))).to.equal('DATA_MALFORMED');
    expect(codeOf(() => loadDataset(join(dir, 'magic')))).to.equal('DATA_MALFORMED');
  });
});
