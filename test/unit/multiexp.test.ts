import { expect } from 'chai';
import * as snarkjs from 'snarkjs';
import { newCurve } from '../../circuits/chunk-prover.js';
import { useWidthGroupedMultiExp } from '../../circuits/multiexp.js';
import { Random } from '../../common/random.js';

/** The top byte of bn128's scalar field order r (0x30644e…): wide scalars stay below it. */
const WIDE_TOP = 0x30;

/** `count` affine points of `group`: G, G+S, G+2S, … for a fixed S. */
function points(group: snarkjs.CurveGroup, count: number): Uint8Array {
  const size = group.F.n8 * 2;
  const step = group.add(group.add(group.g, group.g), group.g);
  const bases = new Uint8Array(count * size);
  let point = group.g;
  for (let i = 0; i < count; i++) {
    bases.set(group.toAffine(point), i * size);
    point = group.add(point, step);
  }
  return bases;
}

/**
 * Little-endian scalars of `size` bytes (32 unless said), of the given widths in bytes (0 is the scalar 0), cycled over
 * `count` points.
 */
function scalars(count: number, widths: readonly number[], seed: number, size = 32): Uint8Array {
  const random = new Random(seed);
  const bytes = new Uint8Array(count * size);
  for (let i = 0; i < count; i++) {
    const width = widths[i % widths.length]!;
    for (let b = 0; b < width; b++) bytes[i * size + b] = Math.floor(random.next() * 256);
    const top = i * size + width - 1;
    if (width > 0) bytes[top] = width === 32 ? WIDE_TOP - 1 : Math.max(1, bytes[top]!);
  }
  return bytes;
}

describe('the prover’s width-grouped multiexp (circuits/multiexp.ts)', function () {
  const built: snarkjs.Curve[] = [];
  after(async () => Promise.all(built.map((curve) => curve.terminate())));

  /** The sum the grouped multiexp gives, and the one ffjavascript's own gives, on the same new curve. */
  async function bothSums(singleThread: boolean, groupName: 'G1' | 'G2', bases: Uint8Array, scalarBytes: Uint8Array) {
    // Not the threaded curve ffjavascript cached, whose sums an earlier case replaced.
    const curve = await newCurve(singleThread);
    built.push(curve);
    expect(curve.tm.singleThread).to.equal(singleThread);
    const group = curve[groupName];
    const expected = await group.multiExpAffine(bases.slice(), scalarBytes.slice());
    useWidthGroupedMultiExp(curve);
    const actual = await group.multiExpAffine(bases, scalarBytes);
    return { group, expected, actual };
  }

  for (const singleThread of [true, false]) {
    const threads = singleThread ? 'on one thread' : 'over threads';
    it(`sums G1 points with scalars of every width, zeros left out, as ffjavascript does, ${threads}`, async () => {
      // Enough points that the narrow group is split over threads (1,024 points a task at least).
      const count = 5000;
      const { group, expected, actual } = await bothSums(
        singleThread,
        'G1',
        points(curveG1(), count),
        scalars(count, [0, 1, 1, 2, 3, 5, 9, 17, 32], 7),
      );
      expect(group.isZero(expected)).to.equal(false);
      expect(group.eq(actual, expected)).to.equal(true);
    });

    it(`sums G2 points as ffjavascript does, ${threads}`, async () => {
      const count = 600;
      const { group, expected, actual } = await bothSums(
        singleThread,
        'G2',
        points(curveG2(), count),
        scalars(count, [1, 0, 2, 32], 8),
      );
      expect(group.eq(actual, expected)).to.equal(true);
    });
  }

  it('keeps scalars wider than 32 bytes whole, as ffjavascript does', async () => {
    const count = 300;
    const { group, expected, actual } = await bothSums(
      true,
      'G1',
      points(curveG1(), count),
      scalars(count, [1, 33, 40], 10, 40),
    );
    expect(group.eq(actual, expected)).to.equal(true);
  });

  it('gives the zero point for no points and for scalars that are all 0', async () => {
    const { group, actual } = await bothSums(true, 'G1', points(curveG1(), 10), new Uint8Array(10 * 32));
    expect(group.isZero(actual)).to.equal(true);
    expect(group.isZero(await group.multiExpAffine(new Uint8Array(0), new Uint8Array(0)))).to.equal(true);
  });

  it('refuses scalars that do not divide evenly among the points', async () => {
    const { group } = await bothSums(true, 'G1', points(curveG1(), 2), scalars(2, [1], 9));
    const failure = await group.multiExpAffine(points(curveG1(), 3), new Uint8Array(64)).then(
      () => 'summed',
      (error: Error) => error.message,
    );
    expect(failure).to.match(/Scalar size does not match/);
  });

  // Points are made once on a curve of their own (points are bytes, the same on every bn128 curve).
  let pointCurve: snarkjs.Curve;
  before(async () => {
    pointCurve = await newCurve(true);
    built.push(pointCurve);
  });
  const curveG1 = (): snarkjs.CurveGroup => pointCurve.G1;
  const curveG2 = (): snarkjs.CurveGroup => pointCurve.G2;
});
