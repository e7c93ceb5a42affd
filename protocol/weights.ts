/**
 * A model's weights on the wire: one flat float32 vector as its little-endian bytes, and their sha256, the
 * global-model hash H_r that proofs, round records and the contract are bound to.
 */
import { alignedBuffer, bytesOf, sha256Hex } from '../common/bytes.js';
import { ZkflError } from '../common/errors.js';

/** sha256 of the little-endian float32 bytes: the global-model hash H_r. */
export function hashWeights(flat: Float32Array): string {
  return sha256Hex(toBytes(flat));
}

export const toBytes = (flat: Float32Array): Uint8Array => bytesOf(flat);

/** Reads float32 values from bytes received off the wire (copied: socket buffers need not be 4-byte aligned). */
export function fromBytes(received: Uint8Array | ArrayBuffer): Float32Array {
  // socket.io hands binary over as a Buffer in Node and as an ArrayBuffer in a browser.
  const bytes = received instanceof ArrayBuffer ? new Uint8Array(received) : received;
  if (bytes.byteLength % 4 !== 0) {
    throw new ZkflError('WRONG_LENGTH', `${bytes.byteLength} bytes is not a whole number of float32 values`);
  }
  return new Float32Array(alignedBuffer(bytes));
}
