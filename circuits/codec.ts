/**
 * The TypeScript side of the update statement: clip, quantize and pack an update exactly as the circuit expects
 * (circuits/update-chunk.circom), and encode signed values as field elements.
 *
 * Quantization. Each chunk k of D parameters is clipped to the chunk clip τ_k = τ/√K (so the whole update respects
 * the task's clip τ), then scaled by its own power of two 2^f_k, the finest at which its largest value still fits
 * B bits, and rounded — stochastically by default, so that E[q·2^−f] is the clipped value itself: rounding adds
 * noise, never bias. f_k travels with the update and is bound into the chunk's statement; the circuit's norm
 * bound follows from it, so that Σ(q·2^−f)² ≤ τ_k² whatever scale a client picks.
 */
import type { CircuitParams, ValueBits } from './params.js';

/** The BN254 scalar field order: every circuit signal is an element of this field. */
export const FIELD_PRIME = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

/** Bits of the statement signal that carry the norm bound (the circuit's BOUND_BITS). */
export const NORM_BOUND_BITS = 48n;
const MAX_NORM_BOUND = (1n << NORM_BOUND_BITS) - 1n;
/** Fixed-point position of the chunk clip's square (like Uniswap's X96 prices): the same integers on every side. */
const CLIP_SQUARE_SHIFT = 96n;
/** Chunk scales 2^f range over f ∈ [0, MAX_FRACTION_BITS]. */
export const MAX_FRACTION_BITS = 63;

export const roundingModes = ['stochastic', 'nearest'] as const;
export type Rounding = (typeof roundingModes)[number];

/** How a task quantizes its updates: derived from its clip norm and the circuit, identical on every side. */
export interface Quantization {
  /** Chunks (proofs) per update: ⌈parameters / D⌉. */
  chunks: number;
  valueBits: ValueBits;
  /** L2 clip applied to each chunk: τ/√chunks. */
  chunkClipNorm: number;
  /** ⌊τ_k² · 2^96⌋, exactly: what the per-chunk norm bounds derive from (normBoundFor), here and on-chain. */
  clipSquareX96: bigint;
  rounding: Rounding;
}

/** One update, quantized: q (zero-padded to whole chunks) and each chunk's scale exponent f. */
export interface QuantizedUpdate {
  q: Int32Array;
  fractionBits: number[];
}

/** The largest magnitude a B-bit value takes here: symmetric, so that rounding never leaves the range. */
export const valueLimit = (bits: ValueBits): number => 2 ** (bits - 1) - 1;

/** A finite double as an exact fraction numerator / 2^shift. */
function dyadic(x: number): { numerator: bigint; shift: bigint } {
  let shift = 0n;
  while (!Number.isInteger(x)) {
    x *= 2;
    shift += 1n;
  }
  return { numerator: BigInt(x), shift };
}

/**
 * The circuit's bound on Σq² for a chunk at scale 2^f: ⌊τ_k²·4^f⌋ (from the exact ⌊τ_k²·2^96⌋), capped at 48 bits —
 * a cap that never binds a real update, whose Σq² < D·2^(2B−2) is smaller. ZkflRewards computes the same.
 */
export function normBoundFor(clipSquareX96: bigint, fractionBits: number): bigint {
  if (!Number.isInteger(fractionBits) || fractionBits < 0 || fractionBits > MAX_FRACTION_BITS) {
    throw new RangeError(`fraction bits ${fractionBits} outside [0, ${MAX_FRACTION_BITS}]`);
  }
  const bound = (clipSquareX96 << BigInt(2 * fractionBits)) >> CLIP_SQUARE_SHIFT;
  return bound > MAX_NORM_BOUND ? MAX_NORM_BOUND : bound;
}

/**
 * The task's quantization for a model of `numParams` parameters clipped to `clipNorm`. Undefined when the chunk
 * clip exceeds what B-bit values hold even at scale 2^0.
 */
export function quantizationFor(
  numParams: number,
  clipNorm: number,
  params: CircuitParams,
  rounding: Rounding = 'stochastic',
): Quantization | undefined {
  const chunks = Math.ceil(numParams / params.chunkSize);
  const chunkClipNorm = clipNorm / Math.sqrt(chunks);
  if (!(chunkClipNorm <= valueLimit(params.valueBits))) return undefined;
  const { numerator, shift } = dyadic(clipNorm);
  const clipSquareX96 = ((numerator * numerator) << CLIP_SQUARE_SHIFT) / (BigInt(chunks) << (2n * shift));
  return { chunks, valueBits: params.valueBits, chunkClipNorm, clipSquareX96, rounding };
}

/** The finest scale exponent at which `maxAbs` stays within `limit`. */
function fractionBitsFor(maxAbs: number, limit: number): number {
  if (maxAbs === 0) return MAX_FRACTION_BITS;
  let f = Math.min(MAX_FRACTION_BITS, Math.max(0, Math.floor(Math.log2(limit / maxAbs))));
  while (f > 0 && maxAbs * 2 ** f > limit) f--;
  while (f < MAX_FRACTION_BITS && maxAbs * 2 ** (f + 1) <= limit) f++;
  return f;
}

const sumOfSquares = (values: ArrayLike<number>): bigint => {
  let sum = 0n;
  for (let i = 0; i < values.length; i++) sum += BigInt(values[i]!) ** 2n;
  return sum;
};

/**
 * Rounds one scaled chunk into `target` within `bound`. Stochastic rounding can lift Σq² above Σv²; when it
 * lands over the bound (only a chunk at its clip can), the chunk is shrunk by a hair (2^−12 of its squared norm,
 * doubling per try) and rounded afresh. The last resort, truncation toward zero and then trimming the largest
 * value, cannot fail: an honest client always satisfies the circuit.
 */
function roundChunk(
  scaled: Float64Array,
  target: Int32Array,
  bound: bigint,
  limit: number,
  rounding: Rounding,
  random: () => number,
): void {
  const clamp = (value: number): number => Math.max(-limit, Math.min(limit, value));
  for (let attempt = 0; attempt < 8; attempt++) {
    const shrink = attempt === 0 ? 1 : Math.sqrt(1 - 2 ** (attempt - 13));
    for (let i = 0; i < scaled.length; i++) {
      const value = scaled[i]! * shrink;
      target[i] = clamp(rounding === 'stochastic' ? Math.floor(value + random()) : Math.round(value));
    }
    if (sumOfSquares(target) <= bound) return;
  }
  for (let i = 0; i < scaled.length; i++) target[i] = clamp(Math.trunc(scaled[i]!));
  let excess = sumOfSquares(target) - bound;
  while (excess > 0n) {
    let largest = 0;
    for (let i = 1; i < target.length; i++) if (Math.abs(target[i]!) > Math.abs(target[largest]!)) largest = i;
    const before = target[largest]!;
    target[largest] = before - Math.sign(before);
    excess -= BigInt(before * before - target[largest]! ** 2);
  }
}

/**
 * Clips each chunk of `delta` to the chunk clip norm, picks its scale and quantizes it (module comment).
 * `random` draws the stochastic rounding (uniform in [0, 1)); seed it for reproducible runs.
 */
export function quantizeUpdate(
  delta: Float32Array,
  quantization: Quantization,
  params: CircuitParams,
  random: () => number = Math.random,
): QuantizedUpdate {
  const { chunkSize } = params;
  const bad = delta.findIndex((value) => !Number.isFinite(value));
  if (bad >= 0) throw new Error(`update value ${bad} is ${delta[bad]}: training diverged`);
  const limit = valueLimit(quantization.valueBits);
  const q = new Int32Array(quantization.chunks * chunkSize);
  const fractionBits: number[] = [];
  for (let chunk = 0; chunk < quantization.chunks; chunk++) {
    const values = delta.subarray(chunk * chunkSize, (chunk + 1) * chunkSize);
    const norm = Math.sqrt(values.reduce((sum, value) => sum + value * value, 0));
    const clip = norm > quantization.chunkClipNorm ? quantization.chunkClipNorm / norm : 1;
    const maxAbs = values.reduce((max, value) => Math.max(max, Math.abs(value * clip)), 0);
    const f = fractionBitsFor(maxAbs, limit);
    const scaled = Float64Array.from(values, (value) => value * clip * 2 ** f);
    const target = q.subarray(chunk * chunkSize, chunk * chunkSize + values.length);
    roundChunk(scaled, target, normBoundFor(quantization.clipSquareX96, f), limit, quantization.rounding, random);
    fractionBits.push(f);
  }
  return { q, fractionBits };
}

/** q·2^−f, chunk by chunk: the update a quantized one stands for. */
export function dequantize(q: ArrayLike<number>, fractionBits: readonly number[], chunkSize: number): Float64Array {
  return Float64Array.from({ length: q.length }, (_, i) => q[i]! * 2 ** -fractionBits[Math.floor(i / chunkSize)]!);
}

/** Bytes one value takes on the wire: int8 up to 8 bits, int16 above. */
export const bytesPerValue = (bits: ValueBits): 1 | 2 => (bits <= 8 ? 1 : 2);

/** The first `numParams` values as they travel: little-endian int8 or int16 (bytesPerValue), one per parameter. */
export function encodeValues(q: ArrayLike<number>, numParams: number, bits: ValueBits): Uint8Array {
  const wire = bytesPerValue(bits) === 1 ? new Int8Array(numParams) : new Int16Array(numParams);
  for (let i = 0; i < numParams; i++) wire[i] = q[i]!;
  return new Uint8Array(wire.buffer);
}

/**
 * The values of an update as sent (encodeValues); undefined when the byte count is not `numParams` values. The
 * values are not range-checked here: see outOfRange.
 */
export function decodeValues(
  bytes: Uint8Array,
  numParams: number,
  bits: ValueBits,
): Int8Array | Int16Array | undefined {
  if (bytes.byteLength !== numParams * bytesPerValue(bits)) return undefined;
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return bytesPerValue(bits) === 1 ? new Int8Array(copy.buffer) : new Int16Array(copy.buffer);
}

/** The index of the first value outside [−2^(B−1), 2^(B−1)), or −1 when all are B-bit values. */
export function outOfRange(q: ArrayLike<number>, bits: ValueBits): number {
  const half = 2 ** (bits - 1);
  for (let i = 0; i < q.length; i++) if (q[i]! < -half || q[i]! >= half) return i;
  return -1;
}

/** Packs offset values q + 2^(B−1), `packPerElement` to a field element, little-endian (as the circuit does). */
export function pack(q: ArrayLike<number>, params: CircuitParams): bigint[] {
  const offset = 2n ** BigInt(params.valueBits - 1);
  const width = BigInt(params.valueBits);
  const packed: bigint[] = [];
  for (let start = 0; start < q.length; start += params.packPerElement) {
    let element = 0n;
    const end = Math.min(start + params.packPerElement, q.length);
    for (let i = end - 1; i >= start; i--) element = (element << width) + BigInt(q[i]!) + offset;
    packed.push(element);
  }
  return packed;
}
