/** A realistic update for proving benchmarks: Gaussian values quantized as a client quantizes them, and its statement. */
import { quantizationFor, quantizeUpdate } from '../../circuits/codec.js';
import type { CircuitParams } from '../../circuits/params.js';
import type { UpdateStatement } from '../../circuits/statement.js';
import { Random } from '../../common/random.js';

/** An update of `length` parameters for circuit `params` (clip 5, seed 7). */
export function quantizedUpdate(
  params: CircuitParams,
  length: number,
): { q: Int32Array; fractionBits: number[]; statement: UpdateStatement } {
  const random = new Random(7);
  const delta = Float32Array.from({ length }, () => random.normal() * 0.01);
  const quantization = quantizationFor(length, 5, params)!;
  const statement = {
    taskId: 't-bench',
    round: 1,
    address: '0x90f525ee8247191F542689C62bFb16f87c526D0B',
    modelHash: 'ab'.repeat(32),
    clipSquareX96: quantization.clipSquareX96,
  };
  return { ...quantizeUpdate(delta, quantization, params, () => random.next()), statement };
}
