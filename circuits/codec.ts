/**
 * The TypeScript side of the update statement: clip, quantize and pack an update exactly as the circuit expects
 * (circuits/update-chunk.circom), and encode task, round, address and model hash as field elements.
 */
import type { CircuitParams } from './params.js';

/** The BN254 scalar field order: every circuit signal is an element of this field. */
export const FIELD_PRIME = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

/** How a task quantizes its updates: derived from its clip norm and the circuit, identical on every side. */
export interface Quantization {
  /** Chunks (proofs) per update: ⌈parameters / D⌉. */
  chunks: number;
  /** L2 clip applied to each chunk: τ/√chunks, so that the whole update respects τ. */
  chunkClipNorm: number;
  /** f: values are stored as round(x · 2^f). */
  fractionBits: number;
  /** The circuit's per-chunk bound on Σ q²: ⌊(chunkClipNorm · 2^f)²⌋. */
  normBound: bigint;
}

/**
 * Picks the finest scale 2^f at which a chunk clipped to τ/√K still fits B-bit values: |q| ≤ τ_k·2^f < 2^(B−1).
 * Returns undefined when τ is so large that even f = 0 does not fit.
 */
export function quantizationFor(numParams: number, clipNorm: number, params: CircuitParams): Quantization | undefined {
  const chunks = Math.ceil(numParams / params.chunkSize);
  const chunkClipNorm = clipNorm / Math.sqrt(chunks);
  const limit = 2 ** (params.valueBits - 1) - 1;
  const fractionBits = Math.floor(Math.log2(limit / chunkClipNorm));
  if (!(fractionBits >= 0)) return undefined;
  const scaled = chunkClipNorm * 2 ** fractionBits;
  return { chunks, chunkClipNorm, fractionBits, normBound: BigInt(Math.floor(scaled * scaled)) };
}

/**
 * Clips each chunk of `delta` to the chunk clip norm and quantizes it. Values are rounded to nearest; a chunk
 * whose rounded norm would exceed the bound is truncated toward zero instead, which can only shrink every |q| and
 * so always fits: an honest client always satisfies the circuit.
 */
export function quantizeUpdate(delta: Float32Array, quantization: Quantization, params: CircuitParams): Int32Array {
  const { chunkSize } = params;
  const bad = delta.findIndex((value) => !Number.isFinite(value));
  if (bad >= 0) throw new Error(`update value ${bad} is ${delta[bad]}: training diverged`);
  const q = new Int32Array(quantization.chunks * chunkSize);
  const scale = 2 ** quantization.fractionBits;
  for (let chunk = 0; chunk < quantization.chunks; chunk++) {
    const values = delta.subarray(chunk * chunkSize, (chunk + 1) * chunkSize);
    const norm = Math.sqrt(values.reduce((sum, value) => sum + value * value, 0));
    const clip = norm > quantization.chunkClipNorm ? quantization.chunkClipNorm / norm : 1;
    const target = q.subarray(chunk * chunkSize, chunk * chunkSize + values.length);
    let normSq = 0n;
    values.forEach((value, i) => {
      target[i] = Math.round(value * clip * scale);
      normSq += BigInt(target[i]) ** 2n;
    });
    if (normSq > quantization.normBound) values.forEach((value, i) => (target[i] = Math.trunc(value * clip * scale)));
  }
  return q;
}

/** A signed integer as a field element (negative values wrap to p − |q|, as circom reads them). */
export function toField(value: number | bigint): bigint {
  const big = BigInt(value) % FIELD_PRIME;
  return big < 0n ? big + FIELD_PRIME : big;
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
