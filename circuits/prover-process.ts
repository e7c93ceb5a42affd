// Proves update chunks for one circuit: loads its witness generator and proving key once, then proves each chunk it
// is sent, one at a time, on one thread or on all of them as the parent asks.
import { readFileSync } from 'node:fs';
import { WitnessCalculatorBuilder } from 'circom_runtime';
import * as snarkjs from 'snarkjs';
import type { ProverMessage, ProverRequest } from './prover.js';

type WitnessCalculator = Awaited<ReturnType<typeof WitnessCalculatorBuilder>>;
type Curve = Awaited<ReturnType<typeof snarkjs.curves.getCurveFromName>>;

let loaded: Promise<{ calculator: WitnessCalculator; zkey: Uint8Array }> = Promise.reject(
  new Error('the prover has no circuit loaded'),
);
loaded.catch(() => undefined);

// snarkjs proves with the curve cached in globalThis.curve_bn128 (as the verifier process relies on too): one
// single-threaded and one multi-threaded curve, built on first use, and the one each chunk asks for is put there.
const curves = new Map<boolean, Promise<Curve>>();
async function useCurve(singleThread: boolean): Promise<void> {
  let curve = curves.get(singleThread);
  if (!curve) {
    curve = snarkjs.curves.getCurveFromName('bn128', { singleThread });
    curves.set(singleThread, curve);
  }
  (globalThis as { curve_bn128?: unknown }).curve_bn128 = await curve;
}

async function prove(request: Extract<ProverRequest, { type: 'prove' }>): Promise<ProverMessage> {
  const { calculator, zkey } = await loaded;
  await useCurve(request.singleThread);
  let started = performance.now();
  const witness = await calculator.calculateWTNSBin(request.input, true);
  const witnessMs = performance.now() - started;
  started = performance.now();
  const { proof, publicSignals } = await snarkjs.groth16.prove(zkey, { type: 'mem', data: witness });
  return {
    type: 'proof',
    id: request.id,
    proof: { proof, publicSignals },
    witnessMs,
    proveMs: performance.now() - started,
  };
}

// Requests run one at a time, in the order they arrive.
let work = Promise.resolve();
process.on('message', (request: ProverRequest) => {
  work = work.then(async () => {
    if (request.type === 'load') {
      // A circuit that cannot be loaded fails every chunk sent after it, with the reason.
      loaded = (async () => ({
        calculator: await WitnessCalculatorBuilder(readFileSync(request.wasm)),
        zkey: new Uint8Array(readFileSync(request.zkey)),
      }))();
      await loaded.catch(() => undefined);
      return;
    }
    const reply = await prove(request).catch((error: unknown): ProverMessage => ({
      type: 'error',
      id: request.id,
      message: (error as Error).message,
    }));
    await new Promise<void>((resolve) => process.send!(reply, () => resolve()));
  });
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready' } satisfies ProverMessage);
