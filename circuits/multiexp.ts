/**
 * The prover's multi-scalar multiplications (Σ sᵢ·Pᵢ over a proving key's points), costing what the scalars need.
 *
 * ffjavascript (0.3.1, snarkjs 0.7.6's) cuts every 256-bit scalar into ~22 bit-windows and sends each window to a
 * thread with a copy of every point, so a sum over 32,700 points copies them 22 times and passes over them 22 times.
 * Most of a chunk's witness is small: of a default15 chunk's 32,700 values, 10,200 are 0, 14,034 fit a byte and 3,989
 * two; 4,477 are wide (benchmarks/results/msm.md).
 * Here the points are grouped by their scalar's width (zero scalars dropped), each group's scalars packed to that
 * width, and each group shared out over the threads once, each running the wasm's whole multiexp on its share: one
 * copy of each point, and one or two windows for the narrow groups. The sum is the same point.
 *
 * It is installed on the curves the chunk prover builds (chunk-prover.ts); platform-neutral.
 */
import type { Curve, CurveGroup } from 'snarkjs';

/** Packed widths, in bytes: a scalar goes to the narrowest that holds it (or stays at its own size). */
const widths = [1, 2, 4, 8, 16];
/** Below this many points a group is not worth splitting over threads. */
const minPointsPerTask = 1024;

interface PointGroup {
  width: number;
  indices: number[];
}

/** The bytes of scalar `i` (little-endian, `size` bytes each) that are not leading zeros. */
function scalarWidth(scalars: Uint8Array, i: number, size: number): number {
  let top = size;
  while (top > 0 && scalars[i * size + top - 1] === 0) top--;
  return top;
}

/** The points' indices grouped by the packed width their scalar needs; scalars that are 0 are left out. */
function groupByWidth(scalars: Uint8Array, count: number, size: number): PointGroup[] {
  const groups = [...widths.filter((width) => width < size), size].map((width) => ({ width, indices: [] as number[] }));
  for (let i = 0; i < count; i++) {
    const width = scalarWidth(scalars, i, size);
    if (width > 0) groups.find((group) => group.width >= width)!.indices.push(i);
  }
  return groups.filter((group) => group.indices.length > 0);
}

/** The points and scalars at `indices`, each scalar cut to `width` bytes, in buffers of their own. */
function gather(
  bases: Uint8Array,
  pointSize: number,
  scalars: Uint8Array,
  scalarSize: number,
  indices: readonly number[],
  width: number,
): { bases: Uint8Array; scalars: Uint8Array } {
  const packedBases = new Uint8Array(indices.length * pointSize);
  const packedScalars = new Uint8Array(indices.length * width);
  indices.forEach((index, k) => {
    packedBases.set(bases.subarray(index * pointSize, (index + 1) * pointSize), k * pointSize);
    packedScalars.set(scalars.subarray(index * scalarSize, index * scalarSize + width), k * width);
  });
  return { bases: packedBases, scalars: packedScalars };
}

/** One thread's sum over `count` packed points, as a projective point. */
async function threadSum(
  group: CurveGroup,
  fnName: string,
  bases: Uint8Array,
  scalars: Uint8Array,
  width: number,
  count: number,
): Promise<Uint8Array> {
  const resultSize = group.F.n8 * 3;
  const task = [
    { cmd: 'ALLOCSET', var: 0, buff: bases },
    { cmd: 'ALLOCSET', var: 1, buff: scalars },
    { cmd: 'ALLOC', var: 2, len: resultSize },
    { cmd: 'CALL', fnName, params: [{ var: 0 }, { var: 1 }, { val: width }, { val: count }, { var: 2 }] },
    { cmd: 'GET', out: 0, var: 2, len: resultSize },
  ];
  // The buffers are this call's own, so threads take them rather than a copy.
  const [sum] = await group.tm.queueAction(task, group.tm.singleThread ? undefined : [bases.buffer, scalars.buffer]);
  return sum!;
}

/** Σ sᵢ·Pᵢ over affine points `bases` and little-endian scalars `scalars`, shared out over `group`'s threads. */
async function multiExpAffine(group: CurveGroup, fnName: string, bases: Uint8Array, scalars: Uint8Array) {
  const pointSize = group.F.n8 * 2;
  const count = Math.floor(bases.byteLength / pointSize);
  if (count === 0) return group.zero;
  const scalarSize = Math.floor(scalars.byteLength / count);
  if (scalarSize * count !== scalars.byteLength) throw new Error('Scalar size does not match');
  const sums: Promise<Uint8Array>[] = [];
  for (const { width, indices } of groupByWidth(scalars, count, scalarSize)) {
    const tasks = Math.max(1, Math.min(group.tm.concurrency, Math.floor(indices.length / minPointsPerTask)));
    for (let t = 0; t < tasks; t++) {
      const share = indices.slice(
        Math.floor((t * indices.length) / tasks),
        Math.floor(((t + 1) * indices.length) / tasks),
      );
      const packed = gather(bases, pointSize, scalars, scalarSize, share, width);
      sums.push(threadSum(group, fnName, packed.bases, packed.scalars, width, share.length));
    }
  }
  return (await Promise.all(sums)).reduce((total, sum) => group.add(total, sum), group.zero);
}

/** Gives `curve`'s G1 and G2 the multiexp above, for affine points in plain Uint8Arrays (snarkjs's proving key). */
export function useWidthGroupedMultiExp(curve: Curve): void {
  for (const [group, fnName] of [
    [curve.G1, 'g1m_multiexpAffine'],
    [curve.G2, 'g2m_multiexpAffine'],
  ] as const) {
    const original = group.multiExpAffine.bind(group);
    group.multiExpAffine = (bases, scalars, logger, logText) =>
      bases instanceof Uint8Array && scalars instanceof Uint8Array
        ? multiExpAffine(group, fnName, bases, scalars)
        : original(bases, scalars, logger, logText);
  }
}
