// Verifies Groth16 proofs against one verification key, one at a time, on a single-threaded curve.
import * as snarkjs from 'snarkjs';
import type { VerifyRequest, VerifyResponse } from './verifier.js';
import { holdHereForTest } from '../common/test-hooks.js';

// snarkjs's verify reuses a cached curve: caching a single-threaded one keeps this process to one thread.
(globalThis as { curve_bn128?: unknown }).curve_bn128 = await snarkjs.curves.getCurveFromName('bn128', {
  singleThread: true,
});
let verificationKey: object | undefined;

process.on('message', (message: { verificationKey: object } | VerifyRequest) => {
  if ('verificationKey' in message) {
    verificationKey = message.verificationKey;
    process.send!({ id: -1, valid: true } satisfies VerifyResponse);
    return;
  }
  void holdHereForTest('ZKFL_TEST_HOLD_VERIFICATION')
    .then(() => snarkjs.groth16.verify(verificationKey!, message.publicSignals, message.proof))
    .then(
      (valid): VerifyResponse => ({ id: message.id, valid }),
      (error: unknown): VerifyResponse => ({ id: message.id, valid: false, error: (error as Error).message }),
    )
    .then((response) => process.send!(response));
});
// The parent may only talk once this process listens: announce it.
process.send!({ id: -2, valid: true } satisfies VerifyResponse);
