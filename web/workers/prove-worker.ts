/**
 * One member of a contributor's prover pool (circuits/pooled-prover.ts), in a Web Worker of its own: loads the
 * circuit's witness generator and proving key once, then proves each chunk it is sent, on this one thread or, for the
 * last chunk to start, with snarkjs's helper threads as the pool asks.
 */
import { type ChunkProver, chunkProver } from '../../circuits/chunk-prover.js';
import type { ChunkProof, ChunkTiming } from '../../circuits/update-prover.js';

export type ProveRequest =
  | { type: 'load'; wasm: Uint8Array; zkey: Uint8Array }
  | { type: 'prove'; id: number; input: Record<string, string | string[]>; singleThread: boolean };

export type ProveReply =
  | { type: 'loaded' }
  /** The circuit could not be loaded: every chunk would fail. */
  | { type: 'load-failed'; message: string }
  | ({ type: 'proof'; id: number; proof: ChunkProof } & ChunkTiming)
  | { type: 'error'; id: number; message: string };

// The worker's global scope, typed here: the web UI's typecheck uses the DOM library, not the worker one.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<ProveRequest>) => void) | null;
  postMessage(message: ProveReply): void;
};

let prover: Promise<ChunkProver> | undefined;

scope.onmessage = ({ data: request }) => {
  if (request.type === 'load') {
    prover = chunkProver(request.wasm, request.zkey);
    prover.then(
      () => scope.postMessage({ type: 'loaded' }),
      (error: Error) => scope.postMessage({ type: 'load-failed', message: error.message }),
    );
    return;
  }
  const { id, input, singleThread } = request;
  (prover ?? Promise.reject(new Error('no circuit loaded')))
    .then((loaded) => loaded.prove(input, singleThread))
    .then(
      ({ proof, ...timing }) => scope.postMessage({ type: 'proof', id, proof, ...timing }),
      (error: Error) => scope.postMessage({ type: 'error', id, message: error.message }),
    );
};
