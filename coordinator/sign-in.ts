/**
 * Who is on the other end: checks Sign-In with Ethereum messages (protocol/sign-in.ts) against the nonces this
 * coordinator issued and its configured public origins — never against what a request says it was sent to, which
 * its sender chooses (a phishing page relaying a holder's sign-in would set it) — and keeps model owners' sessions.
 */
import { Turns } from '../common/turns.js';
import { getAddress } from 'ethers';
import { SiweMessage } from 'siwe';
import { ZkflError } from '../protocol/errors.js';
import type { NonceView, SessionView } from '../protocol/rest.js';
import { signInSchema, signInStatement } from '../protocol/sign-in.js';
import { parseOrThrow } from '../protocol/validate.js';
import type { Redis } from 'ioredis';
import { ExpiringTokens, RedisTokens, type Tokens } from './tokens.js';

export class Authenticator {
  private readonly nonces: Tokens;
  private readonly sessions: Tokens;
  /** The origins (scheme, host, port) clients reach this coordinator at: a sign-in must name one. */
  private origins: URL[] = [];
  private readonly turns = new Turns();

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

  /** The coordinator's public URLs (`--public-url`, else the address it listens on): what sign-ins must name. */
  serveAt(urls: readonly string[]): void {
    this.origins = urls.map((url) => new URL(url));
  }

  async nonce(): Promise<NonceView> {
    const { token, expiresAt } = await this.nonces.issue('1');
    return { nonce: token, expiresAt, chainId: this.chainId };
  }

  /**
   * The address that signed `input`: a sign-in for one of this coordinator's public origins (its domain that
   * origin's host, its URI on that origin), this chain, with the coordinator's statement and a nonce it issued and
   * nobody used yet. Anything else is AUTH_FAILED.
   */
  async verify(input: unknown): Promise<string> {
    let message: SiweMessage;
    let signature: string;
    // Parsing and recovering a signature take milliseconds each: a burst of sign-ins takes turns (common/turns.ts).
    await this.turns.next();
    try {
      const signIn = parseOrThrow(signInSchema, input, 'sign-in');
      signature = signIn.signature;
      message = new SiweMessage(signIn.message);
    } catch (error) {
      const reason = error instanceof ZkflError ? error.message : 'not a Sign-In with Ethereum (EIP-4361) message';
      throw new ZkflError('AUTH_FAILED', reason);
    }
    this.checkNamesThisCoordinator(message);
    if ((await this.nonces.take(message.nonce)) === undefined) {
      throw new ZkflError('AUTH_FAILED', 'unknown, used or expired nonce: fetch a new one from GET /api/auth/nonce');
    }
    await this.turns.next();
    const { success, error } = await message.verify(
      { signature, domain: message.domain, nonce: message.nonce },
      { suppressExceptions: true },
    );
    if (!success) throw new ZkflError('AUTH_FAILED', `sign-in refused: ${error?.type ?? 'invalid signature'}`);
    return getAddress(message.address);
  }

  /** Refuses a message made for another coordinator, another chain, or another purpose than signing in here. */
  private checkNamesThisCoordinator(message: SiweMessage): void {
    const origin = this.origins.find((candidate) => candidate.host === message.domain);
    const served = this.origins.map((candidate) => candidate.host).join(', ');
    if (!origin)
      throw new ZkflError('AUTH_FAILED', `the sign-in is for ${message.domain}, this coordinator is ${served}`);
    let uri: URL | undefined;
    try {
      uri = new URL(message.uri);
    } catch {
      uri = undefined;
    }
    if (uri?.origin !== origin.origin) {
      throw new ZkflError('AUTH_FAILED', `the sign-in's URI ${message.uri} is not on ${origin.origin}`);
    }
    if (message.chainId !== this.chainId) {
      throw new ZkflError(
        'AUTH_FAILED',
        `the sign-in is for chain ${message.chainId}, this coordinator's is ${this.chainId}`,
      );
    }
    if (message.statement !== signInStatement) {
      throw new ZkflError('AUTH_FAILED', `the sign-in's statement is not "${signInStatement}"`);
    }
  }

  /** A model owner's session from a sign-in. */
  async openSession(input: unknown): Promise<SessionView> {
    const address = await this.verify(input);
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
