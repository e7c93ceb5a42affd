/**
 * Proving one chunk of an update with a circuit's witness generator and proving key held in memory: what a Node
 * prover process (prover-process.ts) and a browser's Web Worker (web/workers/) both do with the bytes they loaded.
 * Platform-neutral: it reads no file.
 */
import { WitnessCalculatorBuilder } from 'circom_runtime';
import * as snarkjs from 'snarkjs';
import { useWidthGroupedMultiExp } from './multiexp.js';
import type { ChunkProof, ChunkTiming } from './update-prover.js';

export interface ChunkProver {
  prove(input: Record<string, string | string[]>, singleThread: boolean): Promise<{ proof: ChunkProof } & ChunkTiming>;
}

// snarkjs proves with the curve cached in globalThis.curve_bn128 (as the verifier process relies on too): one
// single-threaded and one multi-threaded curve, built on first use with multiexp.ts's sums, and the one each chunk
// asks for is put there.
const holder = globalThis as { curve_bn128?: snarkjs.Curve | null };
const curves = new Map<boolean, Promise<snarkjs.Curve>>();

/**
 * A new bn128 curve, on one thread or with helper threads. Asked for threads, ffjavascript hands back whatever curve
 * globalThis.curve_bn128 holds: after a chunk proven on one thread that is the single-threaded one, and every later
 * "threaded" proof would have run on one thread.
 */
export function newCurve(singleThread: boolean): Promise<snarkjs.Curve> {
  if (!singleThread) holder.curve_bn128 = null;
  return snarkjs.curves.getCurveFromName('bn128', { singleThread });
}

/** The prover's curve on one thread or on helper threads, built on first use. */
export function proverCurve(singleThread: boolean): Promise<snarkjs.Curve> {
  let curve = curves.get(singleThread);
  if (!curve) {
    curve = newCurve(singleThread).then((built) => {
      useWidthGroupedMultiExp(built);
      return built;
    });
    curves.set(singleThread, curve);
  }
  return curve;
}

async function useCurve(singleThread: boolean): Promise<void> {
  holder.curve_bn128 = await proverCurve(singleThread);
}

/** A prover for the circuit whose witness generator is `wasm` and proving key `zkey`. */
export async function chunkProver(wasm: Uint8Array, zkey: Uint8Array): Promise<ChunkProver> {
  const calculator = await WitnessCalculatorBuilder(wasm);
  return {
    async prove(input, singleThread) {
      await useCurve(singleThread);
      let started = performance.now();
      const witness = await calculator.calculateWTNSBin(input, true);
      const witnessMs = performance.now() - started;
      started = performance.now();
      const { proof, publicSignals } = await snarkjs.groth16.prove(zkey, { type: 'mem', data: witness });
      return { proof: { proof, publicSignals }, witnessMs, proveMs: performance.now() - started };
    },
  };
}
