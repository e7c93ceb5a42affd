// Proves every chunk of one update in its own process; reports each chunk as it finishes, then exits.
import * as snarkjs from 'snarkjs';
import { terminateCurve } from './build.js';
import type { ProverJob, ProverMessage } from './prover.js';

const send = (message: ProverMessage): Promise<void> =>
  new Promise((resolve) => process.send!(message, () => resolve()));

process.once('message', (job: ProverJob) => {
  void (async () => {
    try {
      for (let chunk = 0; chunk < job.inputs.length; chunk++) {
        const { proof, publicSignals } = await snarkjs.groth16.fullProve(job.inputs[chunk]!, job.wasm, job.zkey);
        await send({ type: 'proof', chunk, proof: { proof, publicSignals } });
      }
    } catch (error) {
      await send({ type: 'error', message: (error as Error).message });
    } finally {
      await terminateCurve();
      process.disconnect();
    }
  })();
});
