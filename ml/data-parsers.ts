/**
 * Incremental parsers for the data formats zkfl reads (CSV rows, IDX arrays): they take a file's bytes chunk by
 * chunk, as a stream delivers them, and refuse a file the moment it holds more than `maxValues` values — before
 * anything that size is allocated. A small gzipped file that expands to billions of rows costs what its first
 * `maxValues` values cost, no more.
 */
import { ZkflError } from '../common/errors.js';

export interface ParseLimits {
  /** Feature values a data set may hold in all (examples × features): what its Float32Array would hold. */
  maxValues: number;
}

/** The feature values and labels of a data set, as its parser produced them. */
export interface ParsedData {
  /** Row-major examples, scaled to [0, 1] for IDX images; `count × exampleSize` values. */
  features: Float32Array;
  labels: Int32Array;
  count: number;
  /** Shape of one example, e.g. [28, 28] for IDX images or [featureCount] for CSV. */
  exampleShape: number[];
}

/** A parser fed a file's (decompressed) bytes in order, then ended. */
export interface ChunkParser<T> {
  push(chunk: Uint8Array): void;
  end(): T;
}

function tooLarge(name: string, limits: ParseLimits): ZkflError {
  return new ZkflError('LIMIT_EXCEEDED', `${name} holds more than ${limits.maxValues} values, the limit here`, 'files');
}

type TypedArray = Float32Array | Int32Array;

/**
 * Values appended one by one, in blocks of a typed array (4 bytes a value, where a JS array of numbers takes 8 and
 * more), into one array at the end: growth never copies what is held.
 */
class GrowingValues<T extends TypedArray> {
  private readonly blocks: T[] = [];
  private current: T;
  private used = 0;
  length = 0;

  constructor(
    private readonly make: (length: number) => T,
    private readonly blockSize: number,
  ) {
    this.current = make(0);
  }

  push(value: number): void {
    if (this.used === this.current.length) {
      if (this.length > 0) this.blocks.push(this.current);
      this.current = this.make(this.blockSize);
      this.used = 0;
    }
    this.current[this.used++] = value;
    this.length++;
  }

  toArray(): T {
    const all = this.make(this.length);
    let offset = 0;
    for (const block of [...this.blocks, this.current.subarray(0, this.used)]) {
      all.set(block.subarray(0, Math.min(block.length, this.length - offset)), offset);
      offset += block.length;
    }
    return all;
  }
}

/** The longest CSV line read: millions of features per example, far more than any model here takes. */
export const MAX_LINE_CHARS = 16 * 1024 * 1024;

/**
 * CSV rows of numeric features followed by an integer label ≥ 0; a first row with a cell that is not a number is a
 * header. Lines may end in \n or \r\n; blank lines are skipped.
 */
export function csvParser(name: string, limits: ParseLimits): ChunkParser<ParsedData> {
  return new CsvParser(name, limits);
}

class CsvParser implements ChunkParser<ParsedData> {
  private readonly decoder = new TextDecoder('utf-8');
  private readonly features: GrowingValues<Float32Array>;
  private readonly labels: GrowingValues<Int32Array>;
  private width = 0;
  private line = 0;
  private seenRow = false;
  /** The line read so far, in pieces: a long one is joined once, when its end arrives. */
  private pending: string[] = [];
  private pendingLength = 0;

  constructor(
    private readonly name: string,
    private readonly limits: ParseLimits,
  ) {
    const block = Math.min(limits.maxValues, 1 << 20);
    this.features = new GrowingValues((length) => new Float32Array(length), block);
    this.labels = new GrowingValues((length) => new Int32Array(length), block);
  }

  push(chunk: Uint8Array): void {
    const text = this.decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      this.endLine(text.slice(start, end));
      start = end + 1;
    }
    this.pending.push(text.slice(start));
    this.pendingLength += text.length - start;
    // A line longer than any example could be is not data (and would otherwise be held whole).
    if (this.pendingLength > MAX_LINE_CHARS) {
      const message = `${this.name} line ${this.line + 1} is longer than ${MAX_LINE_CHARS} characters`;
      throw new ZkflError('DATA_MALFORMED', message);
    }
  }

  end(): ParsedData {
    this.endLine(this.decoder.decode());
    const { features, labels } = this;
    if (labels.length === 0) throw new ZkflError('DATA_MALFORMED', `${this.name} holds no data rows`);
    return {
      features: features.toArray(),
      labels: labels.toArray(),
      count: labels.length,
      exampleShape: [this.width - 1],
    };
  }

  private endLine(tail: string): void {
    this.pending.push(tail);
    const text = this.pending.join('');
    this.pending = [];
    this.pendingLength = 0;
    this.row(text.endsWith('\r') ? text.slice(0, -1) : text);
  }

  private row(text: string): void {
    this.line++;
    if (text.trim() === '') return;
    const cells = text.split(',');
    const first = !this.seenRow;
    this.seenRow = true;
    if (first && cells.some((cell) => cell.trim() === '' || Number.isNaN(Number(cell)))) return; // the header
    const width = this.checkWidth(cells.length);
    if (this.features.length + width - 1 > this.limits.maxValues) throw tooLarge(this.name, this.limits);
    const label = Number(cells[width - 1]);
    if (!Number.isInteger(label) || label < 0 || label > 0x7fffffff) throw this.notNumbers();
    for (let k = 0; k < width - 1; k++) {
      const value = Number(cells[k]);
      if (!Number.isFinite(value)) throw this.notNumbers();
      this.features.push(value);
    }
    this.labels.push(label);
  }

  /** The first data row sets the width; every other must have it. */
  private checkWidth(columns: number): number {
    if (this.width === 0) {
      this.width = columns;
      if (columns < 2)
        throw new ZkflError('DATA_MALFORMED', `${this.name}: a row needs at least one feature and a label`);
    }
    if (columns !== this.width) {
      throw new ZkflError(
        'DATA_MALFORMED',
        `${this.name} line ${this.line}: ${columns} columns, expected ${this.width}`,
      );
    }
    return this.width;
  }

  private notNumbers(): ZkflError {
    const message = `${this.name} line ${this.line}: features must be numbers, the label an integer ≥ 0`;
    return new ZkflError('DATA_MALFORMED', message);
  }
}

/** IDX's type code for unsigned bytes, the only element type read here. */
export const IDX_UBYTE = 0x08;

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/**
 * An unsigned-byte IDX array: magic 0 0 8 d, d big-endian dimensions, then their product of bytes. The product is
 * checked against `maxValues` (and against `totalBytes`, the file's length when it is known) as soon as the header
 * is in, before the data's array is allocated; a file holding more or fewer bytes than its header says is malformed.
 */
export function idxParser(name: string, limits: ParseLimits, totalBytes?: number): ChunkParser<IdxArray> {
  let header: Uint8Array = new Uint8Array(0);
  let shape: number[] | undefined;
  let data = new Uint8Array(0);
  let filled = 0;

  const readHeader = (): Uint8Array | undefined => {
    if (header.length < 4) return undefined;
    if (header[0] !== 0 || header[1] !== 0 || header[2] !== IDX_UBYTE) {
      throw new ZkflError('DATA_MALFORMED', `${name} is not an unsigned-byte IDX file (bad magic number)`);
    }
    const dims = header[3]!;
    if (dims < 1) throw new ZkflError('DATA_MALFORMED', `${name}: truncated IDX header`);
    const length = 4 + 4 * dims;
    if (header.length < length) return undefined;
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    shape = Array.from({ length: dims }, (_, i) => view.getUint32(4 + 4 * i));
    const size = shape.reduce((a, b) => a * b, 1);
    // When the file's length is known (read whole, or not compressed), a header that disagrees is caught here.
    if (totalBytes !== undefined && totalBytes !== length + size) {
      throw new ZkflError('DATA_MALFORMED', `${name}: header says ${size} values, file holds ${totalBytes - length}`);
    }
    if (size > limits.maxValues) throw tooLarge(name, limits);
    data = new Uint8Array(size);
    return header.subarray(length);
  };

  const fill = (bytes: Uint8Array): void => {
    if (filled + bytes.length > data.length) {
      throw new ZkflError('DATA_MALFORMED', `${name}: holds more values than its header's ${data.length}`);
    }
    data.set(bytes, filled);
    filled += bytes.length;
  };

  return {
    push(chunk) {
      if (shape) return fill(chunk);
      if (header.length === 0) {
        header = chunk;
      } else {
        const joined = new Uint8Array(header.length + chunk.length);
        joined.set(header);
        joined.set(chunk, header.length);
        header = joined;
      }
      const rest = readHeader();
      if (rest) fill(rest);
    },
    end() {
      if (!shape) throw new ZkflError('DATA_MALFORMED', `${name}: truncated IDX header`);
      if (filled !== data.length) {
        throw new ZkflError('DATA_MALFORMED', `${name}: header says ${data.length} values, file holds ${filled}`);
      }
      return { shape, data };
    },
  };
}

/** An images/labels IDX pair as a data set: pixels scaled to [0, 1], one label per image. */
export function idxDataset(images: IdxArray, labels: IdxArray, labelsName: string): ParsedData {
  const count = images.shape[0] ?? 0;
  if (labels.shape.length !== 1 || labels.shape[0] !== count) {
    throw new ZkflError('DATA_MALFORMED', `${labelsName} holds ${labels.shape[0]} labels for ${count} images`);
  }
  const features = new Float32Array(images.data.length);
  for (let i = 0; i < features.length; i++) features[i] = images.data[i]! / 255;
  return { features, labels: Int32Array.from(labels.data), count, exampleShape: images.shape.slice(1) };
}
