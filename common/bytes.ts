/** Raw bytes and typed views over them; platform-neutral (the dashboard's verifier runs this in a browser). */
import { sha256, toUtf8Bytes } from 'ethers';

/** The bytes behind a typed array (a view, no copy). */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * A fresh buffer holding `bytes`: received and stored buffers need not be aligned for a Float32/Float64/Int16
 * view, so they are copied once before being viewed.
 */
export function alignedBuffer(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/** sha256 of `data` as lowercase hex: how zkfl names models, keys and artifacts. */
export function sha256Hex(data: string | Uint8Array): string {
  // ethers hashes with node:crypto in Node and with @noble/hashes in a browser.
  return sha256(typeof data === 'string' ? toUtf8Bytes(data) : data).slice(2);
}
