import { expect } from 'chai';
import {
  decodeValues,
  dequantize,
  encodeValues,
  MAX_FRACTION_BITS,
  normBoundFor,
  outOfRange,
  quantizationFor,
  quantizeUpdate,
  valueLimit,
} from '../../circuits/codec.js';
import { type CircuitParams, circuitParams } from '../../circuits/params.js';
import { Random } from '../../common/random.js';

const params: CircuitParams = circuitParams.test; // 6-bit values, chunks of 30
const limit = valueLimit(params.valueBits); // 31
const sumOfSquares = (values: ArrayLike<number>): number => Array.from(values).reduce((sum, v) => sum + v * v, 0);
const chunkOf = (q: Int32Array, k: number): Int32Array => q.subarray(k * 30, (k + 1) * 30);

function gaussian(length: number, scale: number, seed: number): Float32Array {
  const random = new Random(seed);
  return Float32Array.from({ length }, () => random.normal() * scale);
}

describe('quantization (circuits/codec.ts)', () => {
  it('derives each chunk bound ⌊τ_k²·4^f⌋ from one exact fixed-point number, capped at 48 bits', () => {
    const quantization = quantizationFor(90, 5, params)!;
    expect(quantization.chunks).to.equal(3);
    // τ_k² = 25/3 exactly, times 2^96, floored.
    expect(quantization.clipSquareX96).to.equal((25n << 96n) / 3n);
    expect(normBoundFor(quantization.clipSquareX96, 0)).to.equal(8n);
    expect(normBoundFor(quantization.clipSquareX96, 4)).to.equal((25n * 256n) / 3n);
    expect(normBoundFor(quantization.clipSquareX96, MAX_FRACTION_BITS)).to.equal((1n << 48n) - 1n);
    expect(() => normBoundFor(quantization.clipSquareX96, MAX_FRACTION_BITS + 1)).to.throw(RangeError);
    expect(() => normBoundFor(quantization.clipSquareX96, -1)).to.throw(RangeError);
    // The clip is taken exactly as the double it is: 0.375² = 9/64.
    expect(quantizationFor(30, 0.375, params)!.clipSquareX96).to.equal((9n << 96n) / 64n);
  });

  it('refuses a clip that the values cannot hold even at scale 2^0', () => {
    expect(quantizationFor(30, limit, params)).to.not.equal(undefined);
    expect(quantizationFor(30, limit + 1, params)).to.equal(undefined);
    expect(quantizationFor(30, 127, circuitParams.test8)).to.not.equal(undefined);
  });

  it('scales every chunk to fill the value range, within the range and the bound the circuit checks', () => {
    const quantization = quantizationFor(75, 5, params)!; // three chunks, the last one half full
    for (let seed = 0; seed < 50; seed++) {
      // Chunks of very different magnitudes, some far over the clip.
      const delta = Float32Array.from(
        { length: 75 },
        (_, i) => gaussian(1, 10 ** ((i % 3) - 2 + (seed % 3)), seed * 75 + i)[0]!,
      );
      const { q, fractionBits } = quantizeUpdate(delta, quantization, params, () => Math.random());
      expect(q.length).to.equal(90);
      for (let k = 0; k < 3; k++) {
        const chunk = chunkOf(q, k);
        expect(Math.max(...chunk.map(Math.abs)), `chunk ${k}`).to.be.at.most(limit);
        expect(BigInt(sumOfSquares(chunk)) <= normBoundFor(quantization.clipSquareX96, fractionBits[k]!)).to.equal(
          true,
        );
        // The finest scale was taken: the largest value uses at least the top half of the range.
        expect(Math.max(...chunk.map(Math.abs))).to.be.at.least((limit + 1) / 2 - 1);
        // What it stands for respects the chunk clip.
        expect(Math.sqrt(sumOfSquares(chunk)) * 2 ** -fractionBits[k]!).to.be.at.most(
          quantization.chunkClipNorm + 1e-9,
        );
      }
      expect(Array.from(q.subarray(75))).to.deep.equal(Array<number>(15).fill(0));
    }
  });

  it('rounds stochastically without bias, and to nearest when asked', () => {
    const quantization = quantizationFor(30, 30, params)!; // the clip never binds
    const delta = gaussian(30, 0.01, 7);
    const trials = 4000;
    const mean = new Float64Array(30);
    const random = new Random(11);
    let scale = 0;
    for (let t = 0; t < trials; t++) {
      const { q, fractionBits } = quantizeUpdate(delta, quantization, params, () => random.next());
      scale = fractionBits[0]!;
      dequantize(q, fractionBits, 30).forEach((value, i) => (mean[i]! += value / trials));
    }
    // One step is 2^−f; the mean of 4000 draws sits within a few hundredths of a step of the value itself.
    const step = 2 ** -scale;
    mean.forEach((value, i) => expect(Math.abs(value - delta[i]!)).to.be.below(0.05 * step));

    const nearest = quantizationFor(30, 30, params, 'nearest')!;
    const once = quantizeUpdate(delta, nearest, params, () => Math.random());
    const again = quantizeUpdate(delta, nearest, params, () => Math.random());
    expect(Array.from(once.q)).to.deep.equal(Array.from(again.q));
    dequantize(once.q, once.fractionBits, 30).forEach((value, i) =>
      expect(Math.abs(value - delta[i]!)).to.be.at.most(step / 2 + 1e-12),
    );
  });

  it('keeps a chunk at its clip within the bound whatever the rounding draws', () => {
    const quantization = quantizationFor(30, 1, params)!;
    // Every value equal: a chunk whose rounding error is all in one direction when the draws are all high.
    const delta = new Float32Array(30).fill(1);
    for (const draw of [0, 0.5, 0.999999]) {
      const { q, fractionBits } = quantizeUpdate(delta, quantization, params, () => draw);
      const [squares, bound] = [BigInt(sumOfSquares(q)), normBoundFor(quantization.clipSquareX96, fractionBits[0]!)];
      expect(squares <= bound, `${squares} > ${bound}`).to.equal(true);
    }
  });

  it('quantizes a zero chunk at the finest scale and refuses a diverged update', () => {
    const quantization = quantizationFor(30, 5, params)!;
    const { q, fractionBits } = quantizeUpdate(new Float32Array(30), quantization, params);
    expect(fractionBits).to.deep.equal([MAX_FRACTION_BITS]);
    expect([...q]).to.deep.equal(Array(q.length).fill(0));
    expect(() => quantizeUpdate(Float32Array.of(Number.NaN), quantization, params)).to.throw(/diverged/);
  });

  it('sends values as B-bit integers and reads back only the right length', () => {
    const q = Int32Array.of(-128, 127, 0, -1, 5, 99);
    const bytes = encodeValues(q, 5, 8);
    expect(bytes.byteLength).to.equal(5);
    expect(Array.from(decodeValues(bytes, 5, 8)!)).to.deep.equal([-128, 127, 0, -1, 5]);
    expect(decodeValues(bytes, 4, 8)).to.equal(undefined);
    expect(encodeValues(q, 5, 6).byteLength).to.equal(5);
    // int8 carries them, the range check tells 6-bit values apart.
    expect(outOfRange(decodeValues(bytes, 5, 6)!, 6)).to.equal(0);
    expect(outOfRange(Int8Array.of(-32, 31, 0), 6)).to.equal(-1);
    expect(outOfRange(Int8Array.of(-32, 32), 6)).to.equal(1);
    const wide = encodeValues(Int32Array.of(-32768, 32767), 2, 16);
    expect(Array.from(decodeValues(wide, 2, 16)!)).to.deep.equal([-32768, 32767]);
    expect(decodeValues(wide.subarray(1), 2, 16)).to.equal(undefined);
  });
});
