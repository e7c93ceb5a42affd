/**
 * Random tokens that expire, each standing for a value: single-use login nonces (a replayed signature is worthless)
 * and owner sessions (an address). In this process (bounded, so that asking for many cannot exhaust memory), or in
 * Redis when several coordinator instances must accept each other's (a nonce from one, a sign-in at another).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface Tokens {
  issue(value: string): Promise<{ token: string; expiresAt: number }>;
  /** The token's value while it has not expired. */
  get(token: string): Promise<string | undefined>;
  /** The token's value, once: it cannot be used again. */
  take(token: string): Promise<string | undefined>;
}

const newToken = (): string => randomBytes(16).toString('hex');

export class ExpiringTokens implements Tokens {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly capacity = 100_000,
  ) {}

  issue(value: string): Promise<{ token: string; expiresAt: number }> {
    const now = Date.now();
    if (this.entries.size >= this.capacity) {
      for (const [token, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(token);
      // Still full: drop the oldest (Map keeps insertion order).
      const oldest = this.entries.keys().next();
      if (this.entries.size >= this.capacity && !oldest.done) this.entries.delete(oldest.value);
    }
    const token = newToken();
    const expiresAt = now + this.ttlMs;
    this.entries.set(token, { value, expiresAt });
    return Promise.resolve({ token, expiresAt });
  }

  get(token: string): Promise<string | undefined> {
    const entry = this.entries.get(token);
    if (entry && entry.expiresAt <= Date.now()) this.entries.delete(token);
    return Promise.resolve(entry && entry.expiresAt > Date.now() ? entry.value : undefined);
  }

  async take(token: string): Promise<string | undefined> {
    const value = await this.get(token);
    this.entries.delete(token);
    return value;
  }
}

/** Tokens every instance sharing `redis` knows; Redis expires them. */
export class RedisTokens implements Tokens {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  async issue(value: string): Promise<{ token: string; expiresAt: number }> {
    const token = newToken();
    const expiresAt = Date.now() + this.ttlMs;
    await this.redis.set(this.prefix + token, value, 'PX', this.ttlMs);
    return { token, expiresAt };
  }

  async get(token: string): Promise<string | undefined> {
    return (await this.redis.get(this.prefix + token)) ?? undefined;
  }

  async take(token: string): Promise<string | undefined> {
    // One atomic command: of two sign-ins with one nonce, at most one gets it.
    return (await this.redis.getdel(this.prefix + token)) ?? undefined;
  }
}
