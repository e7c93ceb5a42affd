import { expect } from 'chai';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MAX_LINE_CHARS } from '../../ml/data-parsers.js';
import { type Dataset, head, loadDataset, readDataset, saveIdx } from '../../ml/dataset.js';
import { ZkflError } from '../../common/errors.js';
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

describe('data sets others send, read as streams', () => {
  const dir = tempDir();
  const refusal = (reading: Promise<unknown>): Promise<[string, string] | 'read'> =>
    reading.then(
      () => 'read',
      (error: ZkflError) => [error.code, error.message],
    );

  it('reads what loadDataset reads, CSV and IDX, plain and gzipped', async () => {
    const csv = join(dir, 'small.csv');
    writeFileSync(csv, 'a,b,label\n0.5,1,0\r\n2,3,1\n\n');
    writeFileSync(join(dir, 'small.csv.gz'), gzipSync('0.5,1,0\n2,3,1'));
    const images: Dataset = {
      features: Float32Array.from({ length: 8 }, (_, i) => i / 255),
      labels: Int32Array.of(1, 0),
      count: 2,
      exampleShape: [2, 2],
    };
    saveIdx(join(dir, 'idx', 'set'), images);
    for (const path of [csv, join(dir, 'small.csv.gz'), join(dir, 'idx', 'set')]) {
      expect(await readDataset(path, { maxValues: 100 })).to.deep.equal(loadDataset(path));
    }
  });

  it('refuses a gzip bomb of rows once it holds more values than the limit, having allocated no more', async () => {
    // 4 MiB of rows, compressed to a few KiB: 2 million values.
    writeFileSync(join(dir, 'bomb.csv.gz'), gzipSync(Buffer.from('0,0\n'.repeat(1 << 20))));
    expect(await refusal(readDataset(join(dir, 'bomb.csv.gz'), { maxValues: 1000 }))).to.deep.equal([
      'LIMIT_EXCEEDED',
      `${join(dir, 'bomb.csv.gz')} holds more than 1000 values, the limit here`,
    ]);
    // One endless line: refused before it is held whole.
    writeFileSync(join(dir, 'line.csv.gz'), gzipSync(Buffer.alloc(MAX_LINE_CHARS + 1024, '1')));
    const [code, message] = (await refusal(readDataset(join(dir, 'line.csv.gz'), { maxValues: 1000 }))) as string[];
    expect([code, message]).to.deep.equal([
      'DATA_MALFORMED',
      `${join(dir, 'line.csv.gz')} line 1 is longer than ${MAX_LINE_CHARS} characters`,
    ]);
  });

  it('refuses an IDX header that promises more values than the limit before allocating them, or other than it holds', async () => {
    const header = (dims: number[]): Buffer => {
      const bytes = Buffer.alloc(4 + 4 * dims.length);
      bytes[2] = 0x08;
      bytes[3] = dims.length;
      dims.forEach((size, i) => bytes.writeUInt32BE(size, 4 + 4 * i));
      return bytes;
    };
    mkdirSync(join(dir, 'huge'));
    writeFileSync(join(dir, 'huge', 'set-images-idx3-ubyte.gz'), gzipSync(header([60_000, 4096, 4096])));
    writeFileSync(join(dir, 'huge', 'set-labels-idx1-ubyte.gz'), gzipSync(header([60_000])));
    expect((await refusal(readDataset(join(dir, 'huge', 'set'), { maxValues: 1 << 20 })))[0]).to.equal(
      'LIMIT_EXCEEDED',
    );
    // Compressed, its length is known only once read: the extra values are refused as they arrive.
    mkdirSync(join(dir, 'long'));
    writeFileSync(
      join(dir, 'long', 'set-images-idx3-ubyte.gz'),
      gzipSync(Buffer.concat([header([1, 2, 2]), Buffer.alloc(8)])),
    );
    writeFileSync(
      join(dir, 'long', 'set-labels-idx1-ubyte.gz'),
      gzipSync(Buffer.concat([header([1]), Buffer.alloc(1)])),
    );
    expect(await refusal(readDataset(join(dir, 'long', 'set'), { maxValues: 100 }))).to.deep.equal([
      'DATA_MALFORMED',
      `${join(dir, 'long', 'set-images-idx3-ubyte.gz')}: holds more values than its header's 4`,
    ]);
    // Plain, its length is known up front: a header that disagrees with it is refused before anything is allocated.
    mkdirSync(join(dir, 'promise'));
    writeFileSync(join(dir, 'promise', 'set-images-idx3-ubyte'), header([60_000, 4096, 4096]));
    writeFileSync(join(dir, 'promise', 'set-labels-idx1-ubyte'), header([60_000]));
    expect(await refusal(readDataset(join(dir, 'promise', 'set'), { maxValues: 100 }))).to.deep.equal([
      'DATA_MALFORMED',
      `${join(dir, 'promise', 'set-images-idx3-ubyte')}: header says 1006632960000 values, file holds 0`,
    ]);
  });

  it('opens no file whose real path leads out of the root: a symlinked CSV, a symlinked IDX pair', async () => {
    const root = join(dir, 'root');
    const outside = join(dir, 'outside');
    mkdirSync(join(root, 'csv'), { recursive: true });
    mkdirSync(join(root, 'pair'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.csv'), '1,2,0\n');
    saveIdx(join(outside, 'set'), {
      features: new Float32Array(4),
      labels: Int32Array.of(0),
      count: 1,
      exampleShape: [2, 2],
    });
    symlinkSync(join(outside, 'secret.csv'), join(root, 'csv', 'data.csv'));
    for (const kind of ['images-idx3-ubyte.gz', 'labels-idx1-ubyte.gz']) {
      symlinkSync(join(outside, `set-${kind}`), join(root, 'pair', `set-${kind}`));
    }
    for (const path of [join(root, 'csv'), join(root, 'pair', 'set'), join(root, 'pair')]) {
      const [code] = (await refusal(readDataset(path, { maxValues: 100, root }))) as string[];
      expect([path, code]).to.deep.equal([path, 'VALIDATION_FAILED']);
    }
    expect((await readDataset(join(outside, 'secret.csv'), { maxValues: 100, root: outside })).count).to.equal(1);
  });
});
