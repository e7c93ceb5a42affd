/**
 * "Verify this run", off the page's thread: the project's own audit (verifier/audit.ts) run on an audit bundle,
 * every Groth16 proof checked with snarkjs here in the browser. The page posts the bundle it fetched; the worker
 * answers with progress and then the report (or the error that stopped it).
 */
import { groth16 } from 'snarkjs';
import type { AuditBundle } from '../../protocol/audit.js';
import type { ProofVerifier } from '../../circuits/verifier.js';
import { type AuditReport, auditBundle } from '../../verifier/audit.js';

export type VerifyMessage =
  | { type: 'progress'; done: number; total: number }
  | { type: 'report'; report: AuditReport }
  | { type: 'error'; message: string };

// The worker's global scope, typed here: the dashboard's typecheck uses the DOM library, not the worker one.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<AuditBundle>) => void) | null;
  postMessage(message: VerifyMessage): void;
};

/**
 * Proofs one after another: this thread verifies one at a time anyway, and snarkjs builds its curve (with its
 * helper threads) for every call made before the first one cached it, so hundreds of calls at once would build
 * hundreds of curves.
 */
function serialVerifier(verificationKey: object): ProofVerifier {
  let last: Promise<unknown> = Promise.resolve();
  return {
    verify: (proof, publicSignals) => {
      const result = last.then(() => groth16.verify(verificationKey, publicSignals, proof));
      last = result.catch(() => undefined);
      return result;
    },
    close: () => undefined,
  };
}

scope.onmessage = ({ data: bundle }) => {
  auditBundle(bundle, {
    proofVerifier: serialVerifier,
    onProgress: (done, total) => scope.postMessage({ type: 'progress', done, total }),
  }).then(
    (report) => scope.postMessage({ type: 'report', report }),
    (error: unknown) => scope.postMessage({ type: 'error', message: (error as Error).message }),
  );
};
