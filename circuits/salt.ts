/**
 * The salt that hides an update behind its commitment (circuits/commitment.ts). Its own module, so that a browser
 * prover draws one without loading the Poseidon implementation the commitment is computed with.
 */
import { FIELD_PRIME } from './codec.js';

/** A uniformly random field element, for the salt. */
export function randomSalt(): bigint {
  // Web Crypto: the same in Node and in a browser.
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(32));
  return BigInt('0x' + Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')) % FIELD_PRIME;
}
