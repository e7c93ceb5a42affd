/** Raw bytes and typed views over them. */

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
