/**
 * Who is on the other end: checks Sign-In with Ethereum messages (protocol/sign-in.ts) against the nonces this
 * coordinator issued and the host it was reached at, and keeps model owners' sessions.
 */
import { getAddress } from 'ethers';
import { SiweMessage } from 'siwe';
import { ZkflError } from '../protocol/errors.js';
import type { NonceView, SessionView } from '../protocol/rest.js';
import { signInSchema } from '../protocol/sign-in.js';
import { parseOrThrow } from '../protocol/validate.js';
import type { Redis } from 'ioredis';
import { ExpiringTokens, RedisTokens, type Tokens } from './tokens.js';

export class Authenticator {
  private readonly nonces: Tokens;
  private readonly sessions: Tokens;

  /** `redis`: instances sharing it accept each other's nonces and sessions. */
  constructor(
    options: { nonceTtlSeconds: number; sessionTtlSeconds: number },
    private readonly chainId: number,
    redis?: Redis,
  ) {
    const nonceMs = options.nonceTtlSeconds * 1000;
    const sessionMs = options.sessionTtlSeconds * 1000;
    this.nonces = redis ? new RedisTokens(redis, 'zkfl:nonce:', nonceMs) : new ExpiringTokens(nonceMs);
    this.sessions = redis ? new RedisTokens(redis, 'zkfl:session:', sessionMs) : new ExpiringTokens(sessionMs);
  }

  async nonce(): Promise<NonceView> {
    const { token, expiresAt } = await this.nonces.issue('1');
    return { nonce: token, expiresAt, chainId: this.chainId };
  }

  /**
   * The address that signed `input`, a sign-in for this coordinator as reached at `host` (the request's Host
   * header), with a nonce it issued and nobody used yet. Anything else is AUTH_FAILED.
   */
  async verify(input: unknown, host: string | undefined): Promise<string> {
    let message: SiweMessage;
    let signature: string;
    try {
      const signIn = parseOrThrow(signInSchema, input, 'sign-in');
      signature = signIn.signature;
      message = new SiweMessage(signIn.message);
    } catch (error) {
      const reason = error instanceof ZkflError ? error.message : 'not a Sign-In with Ethereum (EIP-4361) message';
      throw new ZkflError('AUTH_FAILED', reason);
    }
    if (message.domain !== host) {
      throw new ZkflError(
        'AUTH_FAILED',
        `the sign-in is for ${message.domain}, this coordinator is ${host ?? 'unnamed'}`,
      );
    }
    if ((await this.nonces.take(message.nonce)) === undefined) {
      throw new ZkflError('AUTH_FAILED', 'unknown, used or expired nonce: fetch a new one from GET /api/auth/nonce');
    }
    const { success, error } = await message.verify({ signature, domain: host }, { suppressExceptions: true });
    if (!success) throw new ZkflError('AUTH_FAILED', `sign-in refused: ${error?.type ?? 'invalid signature'}`);
    return getAddress(message.address);
  }

  /** A model owner's session from a sign-in. */
  async openSession(input: unknown, host: string | undefined): Promise<SessionView> {
    const address = await this.verify(input, host);
    const { token, expiresAt } = await this.sessions.issue(address);
    return { token, address, expiresAt };
  }

  /** The owner an `Authorization: Bearer <token>` header stands for. */
  async sessionOwner(authorization: string | undefined): Promise<string> {
    const token = /^Bearer ([0-9a-f]{32})$/.exec(authorization ?? '')?.[1];
    const address = token === undefined ? undefined : await this.sessions.get(token);
    if (address === undefined) {
      throw new ZkflError(
        'AUTH_FAILED',
        authorization ? 'unknown or expired session: sign in again' : 'sign in first: POST /api/auth/session',
      );
    }
    return address;
  }
}
