/**
 * Evaluation sets that are small on the wire and huge once read: what an attacker uploads to exhaust a
 * coordinator's memory (issue 20). Used by the access tests and by `npm run bench:flood`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** An IDX header (unsigned bytes) promising arrays of `dims`. */
function idxHeader(dims: number[]): Buffer {
  const bytes = Buffer.alloc(4 + 4 * dims.length);
  bytes[2] = 0x08;
  bytes[3] = dims.length;
  dims.forEach((size, i) => bytes.writeUInt32BE(size, 4 + 4 * i));
  return bytes;
}

/**
 * Writes both bombs under `dir` and answers their paths, each as an upload names it:
 * - csv: 16 million rows of two features in about 100 KiB of gzip, twice the default limit's 16,777,216 values;
 * - idx: a header promising 60,000 images of 4096 × 4096, and the data of one.
 */
export function writeBombs(dir: string): { csv: string; idx: string } {
  mkdirSync(join(dir, 'csv'), { recursive: true });
  mkdirSync(join(dir, 'idx'), { recursive: true });
  const csv = join(dir, 'csv', 'rows.csv.gz');
  writeFileSync(csv, gzipSync(Buffer.alloc(6 * 2 ** 24, '0,0,0\n')));
  const idx = join(dir, 'idx', 'big');
  writeFileSync(
    `${idx}-images-idx3-ubyte.gz`,
    gzipSync(Buffer.concat([idxHeader([60_000, 4096, 4096]), Buffer.alloc(4096 * 4096)])),
  );
  writeFileSync(`${idx}-labels-idx1-ubyte.gz`, gzipSync(idxHeader([60_000])));
  return { csv, idx };
}
