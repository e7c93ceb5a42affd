/**
 * One chunk's Groth16 proof timed phase by phase from snarkjs's own log messages, with ffjavascript's multi-scalar
 * multiplications or circuits/multiexp.ts's, on one thread or on helper threads. Platform-neutral: bench:msm runs it in
 * Node and in a Chromium worker (proof-phases-worker.ts).
 */
import { WitnessCalculatorBuilder } from 'circom_runtime';
import * as snarkjs from 'snarkjs';
import { newCurve } from '../../circuits/chunk-prover.js';
import { useWidthGroupedMultiExp } from '../../circuits/multiexp.js';

export interface PhaseOptions {
  singleThread: boolean;
  /** circuits/multiexp.ts's sums rather than ffjavascript's. */
  grouped: boolean;
  runs: number;
}

/** One proof's phases, in ms. */
export interface Phases {
  witness: number;
  /** snarkjs's JavaScript loop building the A, B and C evaluations. */
  abc: number;
  /** The six FFTs and the join of A·B − C. */
  ffts: number;
  /** The five multi-scalar multiplications. */
  msms: number;
  total: number;
}

export interface PhaseRun {
  phases: Phases[];
  /** Each run's proof, for the caller to verify. */
  proofs: { proof: snarkjs.Groth16Proof; publicSignals: string[] }[];
}

/** The time of the first message that starts with `prefix`. */
function markOf(marks: readonly [string, number][], prefix: string): number {
  const mark = marks.find(([message]) => message.startsWith(prefix));
  if (!mark) throw new Error(`snarkjs logged no "${prefix}"`);
  return mark[1];
}

/** Proves `input` `runs` times with the circuit `wasm` and proving key `zkey`. */
export async function proofPhases(
  wasm: Uint8Array,
  zkey: Uint8Array,
  input: Record<string, unknown>,
  options: PhaseOptions,
): Promise<PhaseRun> {
  const holder = globalThis as { curve_bn128?: snarkjs.Curve | null };
  const curve = await newCurve(options.singleThread);
  if (options.grouped) useWidthGroupedMultiExp(curve);
  holder.curve_bn128 = curve;
  const calculator = await WitnessCalculatorBuilder(wasm);
  const run: PhaseRun = { phases: [], proofs: [] };
  try {
    for (let i = 0; i < options.runs; i++) {
      const marks: [string, number][] = [];
      const mark = (message: string): void => void marks.push([message, performance.now()]);
      const logger = { debug: mark, info: mark, warn: mark, error: mark, log: mark };
      const started = performance.now();
      const witness = await calculator.calculateWTNSBin(input, true);
      const proving = performance.now();
      run.proofs.push(await snarkjs.groth16.prove(zkey, { type: 'mem', data: witness }, logger));
      const ended = performance.now();
      const [abc, ffts, msms] = ['Building ABC', 'IFFT_A', 'Reading A Points'].map((prefix) => markOf(marks, prefix));
      run.phases.push({
        witness: proving - started,
        abc: ffts! - abc!,
        ffts: msms! - ffts!,
        msms: ended - msms!,
        total: ended - started,
      });
    }
  } finally {
    await curve.terminate();
    holder.curve_bn128 = null;
  }
  return run;
}
