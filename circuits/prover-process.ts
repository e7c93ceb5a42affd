// Proves update chunks for one circuit: loads its witness generator and proving key once, then proves each chunk it
// is sent, one at a time, on one thread or on all of them as the parent asks.
import { readFileSync } from 'node:fs';
import { type ChunkProver, chunkProver } from './chunk-prover.js';
import type { ProverMessage, ProverRequest } from './prover.js';

let loaded: Promise<ChunkProver> = Promise.reject(new Error('the prover has no circuit loaded'));
loaded.catch(() => undefined);

async function prove(request: Extract<ProverRequest, { type: 'prove' }>): Promise<ProverMessage> {
  const { proof, witnessMs, proveMs } = await (await loaded).prove(request.input, request.singleThread);
  return { type: 'proof', id: request.id, proof, witnessMs, proveMs };
}

// Requests run one at a time, in the order they arrive.
let work = Promise.resolve();
process.on('message', (request: ProverRequest) => {
  work = work.then(async () => {
    if (request.type === 'load') {
      // A circuit that cannot be loaded fails every chunk sent after it, with the reason.
      loaded = chunkProver(new Uint8Array(readFileSync(request.wasm)), new Uint8Array(readFileSync(request.zkey)));
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
