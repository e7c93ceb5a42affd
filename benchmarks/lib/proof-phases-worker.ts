/** bench:msm's prover in a Chromium worker: proof-phases.ts on the circuit and input it is sent. */
import { type PhaseOptions, proofPhases } from './proof-phases.js';

export interface PhaseRequest extends PhaseOptions {
  wasm: Uint8Array;
  zkey: Uint8Array;
  input: Record<string, unknown>;
}

// The worker's global scope, typed here: the benchmarks' typecheck has no DOM or worker library.
const scope = globalThis as unknown as {
  onmessage: ((event: { data: PhaseRequest }) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = ({ data: { wasm, zkey, input, ...options } }) => {
  proofPhases(wasm, zkey, input, options).then(
    (run) => scope.postMessage(run),
    (error: Error) => scope.postMessage({ error: error.message }),
  );
};
