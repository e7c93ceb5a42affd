/**
 * Local data sets: Fashion-MNIST-style IDX files (optionally gzipped) and CSV (features…, label). They are
 * read on the data holder's machine only; errors say what is wrong with the file (DATA_MISSING, DATA_MALFORMED).
 */
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { createGunzip, gunzipSync, gzipSync } from 'node:zlib';
import { ZkflError } from '../common/errors.js';
import {
  type ChunkParser,
  csvParser,
  IDX_UBYTE,
  idxDataset,
  type IdxArray,
  idxParser,
  type ParseLimits,
} from './data-parsers.js';
import { type Dataset, exampleSize } from './examples.js';

export { type Dataset, exampleSize, head, subset } from './examples.js';

/** A gzipped file may not expand beyond this when read whole (`loadDataset`): a bound on a gzip bomb. */
export const MAX_GUNZIPPED_BYTES = 2 ** 30;

/** Local data, the holder's own: bounded only by what an array can hold. */
const localLimits: ParseLimits = { maxValues: 2 ** 30 };

export interface ReadLimits extends ParseLimits {
  /** Every file opened must lie under this directory, symlinks resolved (the operator's data root, an upload). */
  root?: string;
}

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

/** Parses a whole file at once (see `readMaybeGzipped`); `parserFor` learns its length. */
function parseWhole<T>(parserFor: (totalBytes: number) => ChunkParser<T>, path: string, maxGunzippedBytes: number): T {
  const bytes = readMaybeGzipped(path, maxGunzippedBytes);
  const parser = parserFor(bytes.length);
  parser.push(bytes);
  return parser.end();
}

function writeIdx(path: string, shape: number[], data: Uint8Array): void {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = IDX_UBYTE;
  header[3] = shape.length;
  shape.forEach((size, i) => header.writeUInt32BE(size, 4 + 4 * i));
  writeFileSync(path, gzipSync(Buffer.concat([header, data])));
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

/**
 * Loads the local data set at `path` (see `datasetFiles`) whole: a data holder's own files, trusted to fit in memory
 * (gzipped files may expand to `maxGunzippedBytes` each).
 */
export function loadDataset(path: string, maxGunzippedBytes = MAX_GUNZIPPED_BYTES): Dataset {
  const files = datasetFiles(path);
  if ('csv' in files) return parseWhole(() => csvParser(files.csv, localLimits), files.csv, maxGunzippedBytes);
  const idx = (file: string): IdxArray =>
    parseWhole((totalBytes) => idxParser(file, localLimits, totalBytes), file, maxGunzippedBytes);
  return idxDataset(idx(files.images), idx(files.labels), files.labels);
}

/** Streams one file, gunzipped on the way when its name ends in `.gz`, into `parser`. */
async function parseStream<T>(parser: ChunkParser<T>, path: string): Promise<T> {
  const file = createReadStream(path);
  const bytes = path.endsWith('.gz') ? file.pipe(createGunzip()) : file;
  try {
    for await (const chunk of bytes) parser.push(chunk as Buffer);
  } catch (error) {
    if (error instanceof ZkflError) throw error;
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT' || code === 'EACCES') {
      throw new ZkflError('DATA_MISSING', `cannot read ${path}: ${(error as Error).message}`);
    }
    throw new ZkflError('DATA_MALFORMED', `${path} is not valid gzip`);
  } finally {
    file.destroy();
  }
  return parser.end();
}

/** Refuses a file whose real path (symlinks resolved) lies outside `root`'s. */
function checkUnder(root: string | undefined, path: string): void {
  if (root === undefined) return;
  let real: string;
  try {
    real = realpathSync(path);
  } catch (error) {
    throw new ZkflError('DATA_MISSING', `cannot read ${path}: ${(error as Error).message}`);
  }
  const top = realpathSync(root);
  if (real !== top && !real.startsWith(top + sep)) {
    throw new ZkflError('VALIDATION_FAILED', `${path} leads out of the directory it was named under`);
  }
}

/**
 * Reads the data set at `path` (see `datasetFiles`) as a stream: bounded by `limits.maxValues` before anything that
 * large is allocated, and, with `limits.root`, opening only files whose real paths lie under it. For data others
 * send (the coordinator's uploads and data root), read in a process of its own (coordinator/tasks/data-reader.ts).
 */
export async function readDataset(path: string, limits: ReadLimits): Promise<Dataset> {
  const files = datasetFiles(path);
  for (const file of Object.values(files)) checkUnder(limits.root, file);
  if ('csv' in files) return parseStream(csvParser(files.csv, limits), files.csv);
  // An uncompressed file's length is known before it is read.
  const idx = (file: string): Promise<IdxArray> =>
    parseStream(idxParser(file, limits, file.endsWith('.gz') ? undefined : statSync(file).size), file);
  const images = await idx(files.images);
  return idxDataset(images, await idx(files.labels), files.labels);
}
