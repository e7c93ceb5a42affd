/**
 * The contributor's prover pool in the browser: one Web Worker (prove-worker.ts) per core, at most one per chunk,
 * each holding the circuit and proving one chunk at a time (circuits/pooled-prover.ts says on how many threads).
 */
import type { ChunkProver } from '../../circuits/chunk-prover.js';
import type { CircuitParams } from '../../circuits/params.js';
import { PooledProver } from '../../circuits/pooled-prover.js';
import type { ChunkProof, ChunkTiming } from '../../circuits/update-prover.js';
import type { ProveReply, ProveRequest } from './prove-worker.js';

/** A prove-worker as a chunk prover, once it has loaded the circuit. */
async function workerMember(wasm: Uint8Array, zkey: Uint8Array): Promise<ChunkProver & { terminate(): void }> {
  const worker = new Worker(new URL('prove-worker.js', self.location.href), { type: 'module' });
  const waiting = new Map<number, (reply: ProveReply) => void>();
  let nextId = 0;
  const loaded = new Promise<void>((resolve, reject) => {
    worker.onmessage = ({ data }: MessageEvent<ProveReply>) => {
      if (data.type === 'loaded') resolve();
      else if (data.type === 'load-failed') reject(new Error(`the prover could not load the circuit: ${data.message}`));
      else waiting.get(data.id)?.(data);
    };
    // A worker that dies fails its load, or every chunk it was proving, rather than leave them waiting.
    worker.onerror = (event) => {
      const message = `the prover worker failed: ${event.message}`;
      reject(new Error(message));
      for (const [id, answer] of waiting) answer({ type: 'error', id, message });
    };
  });
  worker.postMessage({ type: 'load', wasm, zkey } satisfies ProveRequest);
  await loaded;
  return {
    prove: (input, singleThread) =>
      new Promise<{ proof: ChunkProof } & ChunkTiming>((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, (reply) => {
          waiting.delete(id);
          if (reply.type === 'proof') resolve(reply);
          else reject(new Error(`proving failed: ${'message' in reply ? reply.message : reply.type}`));
        });
        worker.postMessage({ type: 'prove', id, input, singleThread } satisfies ProveRequest);
      }),
    terminate: () => worker.terminate(),
  };
}

/** A pool of `size` prover workers for circuit `params`; `close` ends them. */
export async function browserProver(
  params: CircuitParams,
  wasm: Uint8Array,
  zkey: Uint8Array,
  size: number,
): Promise<{ prover: PooledProver; close(): void }> {
  const members = await Promise.all(Array.from({ length: Math.max(1, size) }, () => workerMember(wasm, zkey)));
  return { prover: new PooledProver(params, members), close: () => members.forEach((member) => member.terminate()) };
}
