/**
 * Random tokens that expire, each standing for a value: single-use login nonces (a replayed signature is worthless)
 * and owner sessions (an address). Bounded, so that asking for many cannot exhaust memory.
 */
import { randomBytes } from 'node:crypto';

export class ExpiringTokens<T> {
  private readonly entries = new Map<string, { value: T; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly capacity = 100_000,
  ) {}

  issue(value: T): { token: string; expiresAt: number } {
    const now = Date.now();
    if (this.entries.size >= this.capacity) {
      for (const [token, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(token);
      // Still full: drop the oldest (Map keeps insertion order).
      const oldest = this.entries.keys().next();
      if (this.entries.size >= this.capacity && !oldest.done) this.entries.delete(oldest.value);
    }
    const token = randomBytes(16).toString('hex');
    const expiresAt = now + this.ttlMs;
    this.entries.set(token, { value, expiresAt });
    return { token, expiresAt };
  }

  /** The token's value while it has not expired. */
  get(token: string): T | undefined {
    const entry = this.entries.get(token);
    if (entry && entry.expiresAt <= Date.now()) this.entries.delete(token);
    return entry && entry.expiresAt > Date.now() ? entry.value : undefined;
  }

  /** The token's value, once: it cannot be used again. */
  take(token: string): T | undefined {
    const value = this.get(token);
    this.entries.delete(token);
    return value;
  }
}
