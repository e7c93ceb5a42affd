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
const curves = new Map<boolean, Promise<snarkjs.Curve>>();
async function useCurve(singleThread: boolean): Promise<void> {
  let curve = curves.get(singleThread);
  if (!curve) {
    curve = snarkjs.curves.getCurveFromName('bn128', { singleThread }).then((built) => {
      useWidthGroupedMultiExp(built);
      return built;
    });
    curves.set(singleThread, curve);
  }
  (globalThis as { curve_bn128?: unknown }).curve_bn128 = await curve;
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
