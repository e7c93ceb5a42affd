/** Raw bytes and typed views over them. */
import { createHash } from 'node:crypto';

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
  return createHash('sha256').update(data).digest('hex');
}
