/**
 * Local data sets: Fashion-MNIST-style IDX files (optionally gzipped) and CSV (features…, label). They are
 * read on the data holder's machine only; errors say what is wrong with the file (DATA_MISSING, DATA_MALFORMED).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ZkflError } from '../protocol/errors.js';

export interface Dataset {
  /** Row-major examples, scaled to [0, 1] for IDX images; `count × exampleSize` values. */
  features: Float32Array;
  labels: Int32Array;
  count: number;
  /** Shape of one example, e.g. [28, 28] for IDX images or [featureCount] for CSV. */
  exampleShape: number[];
}

export function exampleSize(dataset: Pick<Dataset, 'exampleShape'>): number {
  return dataset.exampleShape.reduce((a, b) => a * b, 1);
}

const IDX_UBYTE = 0x08;

interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** A gzipped file may not expand beyond this: a small upload must not be able to exhaust memory (a gzip bomb). */
export const MAX_GUNZIPPED_BYTES = 2 ** 30;

/** A file's bytes, gunzipped (to at most `maxBytes`) when its name ends in `.gz`. */
function readMaybeGzipped(path: string, maxBytes: number): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new ZkflError('DATA_MISSING', `cannot read ${path}: ${(error as Error).message}`);
  }
  if (!path.endsWith('.gz')) return bytes;
  try {
    return gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ZkflError('DATA_MALFORMED', `${path} expands to more than ${maxBytes} bytes`);
    }
    throw new ZkflError('DATA_MALFORMED', `${path} is not valid gzip`);
  }
}

function readIdx(path: string, maxBytes: number): IdxArray {
  const bytes = readMaybeGzipped(path, maxBytes);
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== IDX_UBYTE) {
    throw new ZkflError('DATA_MALFORMED', `${path} is not an unsigned-byte IDX file (bad magic number)`);
  }
  const dims = bytes[3] ?? 0;
  const headerLength = 4 + 4 * dims;
  if (dims < 1 || bytes.length < headerLength) throw new ZkflError('DATA_MALFORMED', `${path}: truncated IDX header`);
  const shape = Array.from({ length: dims }, (_, i) => bytes.readUInt32BE(4 + 4 * i));
  const size = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== headerLength + size) {
    throw new ZkflError(
      'DATA_MALFORMED',
      `${path}: header says ${size} values, file holds ${bytes.length - headerLength}`,
    );
  }
  return { shape, data: bytes.subarray(headerLength) };
}

function writeIdx(path: string, shape: number[], data: Uint8Array): void {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = IDX_UBYTE;
  header[3] = shape.length;
  shape.forEach((size, i) => header.writeUInt32BE(size, 4 + 4 * i));
  writeFileSync(path, gzipSync(Buffer.concat([header, data])));
}

/** Loads an images/labels IDX pair. */
export function loadIdx(imagesPath: string, labelsPath: string, maxBytes = MAX_GUNZIPPED_BYTES): Dataset {
  const images = readIdx(imagesPath, maxBytes);
  const labels = readIdx(labelsPath, maxBytes);
  const count = images.shape[0] ?? 0;
  if (labels.shape.length !== 1 || labels.shape[0] !== count) {
    throw new ZkflError('DATA_MALFORMED', `${labelsPath} holds ${labels.shape[0]} labels for ${count} images`);
  }
  const features = new Float32Array(images.data.length);
  for (let i = 0; i < features.length; i++) features[i] = (images.data[i] ?? 0) / 255;
  return { features, labels: Int32Array.from(labels.data), count, exampleShape: images.shape.slice(1) };
}

/** Writes a data set of IDX images back as `<prefix>-images-idx3-ubyte.gz` and `<prefix>-labels-idx1-ubyte.gz`. */
export function saveIdx(prefix: string, dataset: Dataset, indices?: ArrayLike<number>): void {
  const picked = indices ?? Array.from({ length: dataset.count }, (_, i) => i);
  mkdirSync(dirname(prefix), { recursive: true });
  const size = exampleSize(dataset);
  const pixels = new Uint8Array(picked.length * size);
  const labels = new Uint8Array(picked.length);
  for (let row = 0; row < picked.length; row++) {
    const source = picked[row] ?? 0;
    for (let j = 0; j < size; j++)
      pixels[row * size + j] = Math.round((dataset.features[source * size + j] ?? 0) * 255);
    labels[row] = dataset.labels[source] ?? 0;
  }
  writeIdx(`${prefix}-images-idx3-ubyte.gz`, [picked.length, ...dataset.exampleShape], pixels);
  writeIdx(`${prefix}-labels-idx1-ubyte.gz`, [picked.length], labels);
}

/** Loads CSV rows (optionally gzipped) of numeric features followed by an integer label; a non-numeric first row is a header. */
export function loadCsv(path: string, maxBytes = MAX_GUNZIPPED_BYTES): Dataset {
  const text = readMaybeGzipped(path, maxBytes).toString('utf8');
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (lines.length > 0 && lines[0]!.split(',').some((cell) => cell.trim() === '' || Number.isNaN(Number(cell)))) {
    lines.shift();
  }
  if (lines.length === 0) throw new ZkflError('DATA_MALFORMED', `${path} holds no data rows`);
  const width = lines[0]!.split(',').length;
  if (width < 2) throw new ZkflError('DATA_MALFORMED', `${path}: a row needs at least one feature and a label`);
  const features = new Float32Array(lines.length * (width - 1));
  const labels = new Int32Array(lines.length);
  lines.forEach((line, row) => {
    const cells = line.split(',').map((cell) => Number(cell));
    if (cells.length !== width) {
      throw new ZkflError('DATA_MALFORMED', `${path} line ${row + 1}: ${cells.length} columns, expected ${width}`);
    }
    const label = cells[width - 1]!;
    if (!cells.every(Number.isFinite) || !Number.isInteger(label) || label < 0) {
      throw new ZkflError(
        'DATA_MALFORMED',
        `${path} line ${row + 1}: features must be numbers, the label an integer ≥ 0`,
      );
    }
    features.set(cells.slice(0, width - 1), row * (width - 1));
    labels[row] = label;
  });
  return { features, labels, count: lines.length, exampleShape: [width - 1] };
}

function idxPair(prefix: string): DatasetFiles | undefined {
  for (const suffix of ['.gz', '']) {
    const images = `${prefix}-images-idx3-ubyte${suffix}`;
    const labels = `${prefix}-labels-idx1-ubyte${suffix}`;
    if (existsSync(images) && existsSync(labels)) return { images, labels };
  }
  return undefined;
}

const isCsv = (path: string): boolean => /\.csv(\.gz)?$/.test(path);

export type DatasetFiles = { csv: string } | { images: string; labels: string };

/**
 * The files a data path names: a CSV file (`.csv`, or `.csv.gz`); an IDX prefix such as
 * `/usr/share/datasets/fashion-mnist/train` (→ `train-images-idx3-ubyte.gz` + `train-labels-idx1-ubyte.gz`); or a
 * directory holding exactly one CSV file or one such pair.
 */
export function datasetFiles(path: string): DatasetFiles {
  if (isCsv(path)) return { csv: path };
  const direct = idxPair(path);
  if (direct) return direct;
  if (existsSync(path) && statSync(path).isDirectory()) {
    const names = readdirSync(path);
    const prefixes = [
      ...new Set(
        names
          .filter((name) => /-images-idx3-ubyte(\.gz)?$/.test(name))
          .map((name) => name.replace(/-images-idx3-ubyte(\.gz)?$/, '')),
      ),
    ].filter((prefix) => idxPair(join(path, prefix)));
    const csvs = names.filter(isCsv);
    if (prefixes.length + csvs.length === 1) {
      return prefixes.length === 1 ? idxPair(join(path, prefixes[0]!))! : { csv: join(path, csvs[0]!) };
    }
    if (prefixes.length + csvs.length > 1) {
      const first = prefixes[0] ?? csvs[0]!;
      throw new ZkflError(
        'DATA_MALFORMED',
        `${path} holds several data sets (${[...prefixes, ...csvs].join(', ')}): name one, e.g. ${join(path, first)}`,
      );
    }
    throw new ZkflError(
      'DATA_MISSING',
      `${path} holds no CSV file and no <name>-images-idx3-ubyte[.gz] + <name>-labels-idx1-ubyte[.gz] pair`,
    );
  }
  if (existsSync(path))
    throw new ZkflError('DATA_MALFORMED', `${path}: expected a .csv file, an IDX prefix or a directory`);
  throw new ZkflError(
    'DATA_MISSING',
    `no data at ${path} (nor ${basename(path)}-images-idx3-ubyte.gz in ${dirname(path)})`,
  );
}

/** Loads the data set at `path` (see `datasetFiles`); gzipped files may expand to `maxGunzippedBytes` each. */
export function loadDataset(path: string, maxGunzippedBytes = MAX_GUNZIPPED_BYTES): Dataset {
  const files = datasetFiles(path);
  return 'csv' in files
    ? loadCsv(files.csv, maxGunzippedBytes)
    : loadIdx(files.images, files.labels, maxGunzippedBytes);
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
