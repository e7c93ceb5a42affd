/**
 * Who is on the other end: checks Sign-In with Ethereum messages (protocol/sign-in.ts) against the nonces this
 * coordinator issued and its configured public origins — never against what a request says it was sent to, which
 * its sender chooses (a phishing page relaying a holder's sign-in would set it) — and keeps model owners' sessions.
 */
import type { Worker } from 'node:worker_threads';
import { getAddress } from 'ethers';
import { createLogger } from '../../common/log.js';
import { startThread } from '../../common/thread.js';
import { ZkflError } from '../../common/errors.js';
import type { NonceView, SessionView } from '../../protocol/rest.js';
import { sessionHandshakeSchema, signInSchema, signInStatement } from '../../protocol/sign-in.js';
import { parseOrThrow } from '../../protocol/validate.js';
import type { Redis } from 'ioredis';
import type { CheckedSignIn, SignInCheck } from './sign-in-thread.js';
import { ExpiringTokens, RedisTokens, type Tokens } from './tokens.js';

const log = createLogger('sign-in');

type SignInFields = Extract<CheckedSignIn, { parsed: true }>['fields'];

/**
 * Parses sign-ins and recovers their signers in a worker thread (coordinator/surface/sign-in-thread.ts), so a burst of them
 * costs the event loop nothing but messages. At most `maxWaiting` wait at once: past that, RATE_LIMITED.
 */
export class SignInThread {
  private thread?: Worker;
  private readonly waiting = new Map<number, (answer: CheckedSignIn) => void>();
  private nextId = 0;

  constructor(private readonly maxWaiting = 1000) {}

  check(message: string, signature: string): Promise<CheckedSignIn> {
    if (this.waiting.size >= this.maxWaiting) {
      throw new ZkflError('RATE_LIMITED', 'too many sign-ins being checked: try again in a second');
    }
    const id = this.nextId++;
    const answer = new Promise<CheckedSignIn>((resolve) => this.waiting.set(id, resolve));
    this.started().postMessage({ id, message, signature } satisfies SignInCheck);
    return answer;
  }

  async close(): Promise<void> {
    await this.thread?.terminate();
  }

  /** The thread, started on first use and again after it died (its waiting sign-ins are refused). */
  private started(): Worker {
    if (this.thread) return this.thread;
    const thread = startThread(new URL('./sign-in-thread.ts', import.meta.url));
    thread.unref();
    thread.on('message', (answer: CheckedSignIn) => {
      this.waiting.get(answer.id)?.(answer);
      this.waiting.delete(answer.id);
    });
    thread.on('error', (error) => log.error('the sign-in thread failed', { error: error.stack ?? String(error) }));
    thread.once('exit', () => {
      this.thread = undefined;
      for (const [id, resolve] of this.waiting) resolve({ id, parsed: false });
      this.waiting.clear();
    });
    this.thread = thread;
    return thread;
  }
}

export class Authenticator {
  private readonly nonces: Tokens;
  private readonly sessions: Tokens;
  /** The origins (scheme, host, port) clients reach this coordinator at: a sign-in must name one. */
  private origins: URL[] = [];
  private readonly signIns = new SignInThread();

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
    let signIn: { message: string; signature: string };
    try {
      signIn = parseOrThrow(signInSchema, input, 'sign-in');
    } catch (error) {
      throw new ZkflError('AUTH_FAILED', (error as Error).message);
    }
    const checked = await this.signIns.check(signIn.message, signIn.signature);
    if (!checked.parsed) throw new ZkflError('AUTH_FAILED', 'not a Sign-In with Ethereum (EIP-4361) message');
    this.checkNamesThisCoordinator(checked.fields);
    // The nonce is used up even when the signature is bad: one try per nonce.
    if ((await this.nonces.take(checked.fields.nonce)) === undefined) {
      throw new ZkflError('AUTH_FAILED', 'unknown, used or expired nonce: fetch a new one from GET /api/auth/nonce');
    }
    if (!checked.valid) throw new ZkflError('AUTH_FAILED', `sign-in refused: ${checked.error ?? 'invalid signature'}`);
    return getAddress(checked.fields.address);
  }

  async close(): Promise<void> {
    await this.signIns.close();
  }

  /** Refuses a message made for another coordinator, another chain, or another purpose than signing in here. */
  private checkNamesThisCoordinator(message: SignInFields): void {
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
    if (!authorization) throw new ZkflError('AUTH_FAILED', 'sign in first: POST /api/auth/session');
    return this.sessionAddress(/^Bearer ([0-9a-f]{32})$/.exec(authorization)?.[1]);
  }

  /**
   * Who a socket's handshake signs in: a sign-in (`verify`), or a session one opened, which stands for its own
   * address only (protocol/sign-in.ts `sessionHandshakeSchema`).
   */
  async connectionAddress(handshake: unknown): Promise<string> {
    const session = sessionHandshakeSchema.safeParse(handshake);
    return session.success ? this.sessionAddress(session.data.session) : this.verify(handshake);
  }

  private async sessionAddress(token: string | undefined): Promise<string> {
    const address = token === undefined ? undefined : await this.sessions.get(token);
    if (address === undefined) throw new ZkflError('AUTH_FAILED', 'unknown or expired session: sign in again');
    return address;
  }
}
