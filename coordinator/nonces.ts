/** Single-use login nonces with an expiry: what a client signs so that a replayed signature is worthless. */
import { randomBytes } from 'node:crypto';

export class NonceStore {
  private readonly expiries = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    /** Bound on outstanding nonces, so that asking for many cannot exhaust memory. */
    private readonly capacity = 100_000,
  ) {}

  issue(): { nonce: string; expiresAt: number } {
    const now = Date.now();
    if (this.expiries.size >= this.capacity) {
      for (const [nonce, expiresAt] of this.expiries) if (expiresAt <= now) this.expiries.delete(nonce);
      // Still full: drop the oldest (Map keeps insertion order).
      const oldest = this.expiries.keys().next();
      if (this.expiries.size >= this.capacity && !oldest.done) this.expiries.delete(oldest.value);
    }
    const nonce = randomBytes(16).toString('hex');
    const expiresAt = now + this.ttlMs;
    this.expiries.set(nonce, expiresAt);
    return { nonce, expiresAt };
  }

  /** True once for a nonce that was issued and has not expired; it cannot be used again. */
  consume(nonce: string): boolean {
    const expiresAt = this.expiries.get(nonce);
    this.expiries.delete(nonce);
    return expiresAt !== undefined && expiresAt > Date.now();
  }
}
