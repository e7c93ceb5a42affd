/**
 * How often one client may ask: per IP address and per Ethereum address, in fixed windows (rate-limiter-flexible).
 * What costs the coordinator work or state — nonces, sign-ins, task creation and uploads, socket events — is
 * counted; over the limit a request gets RATE_LIMITED (HTTP 429 with Retry-After).
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { ZkflError } from '../../common/errors.js';

export interface RateLimits {
  /** Login nonces per IP address per minute. @default 600 */
  noncesPerMinute: number;
  /** Sign-ins (socket logins and owner sessions) per IP address, and per signed-in address, per minute. @default 300 */
  signInsPerMinute: number;
  /** Tasks created and evaluation sets uploaded per IP address, and per owner, per hour. @default 30 */
  createsPerHour: number;
  /** Socket events per connection per minute. @default 600 */
  eventsPerMinute: number;
  /** Malformed events (unknown, unparsable or invalid) a connection may send before it is disconnected. @default 20 */
  malformedEvents: number;
  /** Open socket connections per IP address. @default 1000 */
  connectionsPerIp: number;
  /**
   * Open HTTP connections per IP address, not counting those upgraded to sockets: more are answered RATE_LIMITED
   * before anything they send is read. @default 64
   */
  httpConnectionsPerIp: number;
  /**
   * Audit bundles sent at once to one IP address, and in all: each holds a signed record in memory until its reader
   * takes it, so these bound what readers that stop reading can hold. More are answered RATE_LIMITED.
   * @default 2 and 8
   */
  auditStreamsPerIp: number;
  auditStreams: number;
}

export const defaultRateLimits: RateLimits = {
  noncesPerMinute: 600,
  signInsPerMinute: 300,
  createsPerHour: 30,
  eventsPerMinute: 600,
  malformedEvents: 20,
  connectionsPerIp: 1000,
  httpConnectionsPerIp: 64,
  auditStreamsPerIp: 2,
  auditStreams: 8,
};

export class RateLimitedError extends ZkflError {
  constructor(
    what: string,
    readonly retryAfterSeconds: number,
  ) {
    super('RATE_LIMITED', `too many ${what}: try again in ${retryAfterSeconds} s`);
  }
}

/**
 * What is open per IP address against a limit: socket connections (`connectionsPerIp`, counted as they open, before
 * they sign in), HTTP connections, audit bundles being sent.
 */
export class ConnectionsPerIp {
  private readonly open = new Map<string, number>();

  constructor(private readonly limit: number) {}

  /** Whether `ip` may open another connection. */
  room(ip: string): boolean {
    return (this.open.get(ip) ?? 0) < this.limit;
  }

  opened(ip: string): void {
    this.open.set(ip, (this.open.get(ip) ?? 0) + 1);
  }

  closed(ip: string): void {
    const left = (this.open.get(ip) ?? 1) - 1;
    if (left > 0) this.open.set(ip, left);
    else this.open.delete(ip);
  }
}

const tooManyConnections = (() => {
  const body = JSON.stringify({ code: 'RATE_LIMITED', message: 'too many open connections from this address' });
  return (
    `HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: application/json\r\nConnection: close\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
})();

/**
 * Holds each IP address to `httpConnectionsPerIp` open HTTP connections: one over it is answered RATE_LIMITED and
 * closed before the server reads a byte of it, so a storm of requests from one address costs little more than
 * accepting them. A connection upgraded to a socket leaves this count for `connectionsPerIp`'s.
 */
export function capHttpConnections(http: Server, limit: number): void {
  const connections = new ConnectionsPerIp(limit);
  const counted = new WeakSet<Socket>();
  const release = (socket: Socket, ip: string): void => {
    if (counted.delete(socket)) connections.closed(ip);
  };
  // Before the server's own listener, which starts reading the request.
  http.prependListener('connection', (socket: Socket) => {
    const ip = socket.remoteAddress ?? 'unknown';
    if (!connections.room(ip)) {
      socket.pause();
      socket.end(tooManyConnections, () => socket.destroy());
      return;
    }
    connections.opened(ip);
    counted.add(socket);
    socket.once('close', () => release(socket, ip));
  });
  http.on('upgrade', (_request, socket: Socket) => release(socket, socket.remoteAddress ?? 'unknown'));
}

type Counted = 'nonces' | 'sign-ins' | 'creations' | 'events';

/** When a refused audit bundle may be asked for again: most finish, or are cut off for stalling, well within it. */
const AUDIT_RETRY_SECONDS = 5;

export class RateLimiter {
  private readonly windows: Record<Counted, RateLimiterMemory>;
  private readonly auditStreamsByIp: ConnectionsPerIp;
  private auditStreamsOpen = 0;

  constructor(readonly limits: RateLimits) {
    this.windows = {
      nonces: new RateLimiterMemory({ points: limits.noncesPerMinute, duration: 60 }),
      'sign-ins': new RateLimiterMemory({ points: limits.signInsPerMinute, duration: 60 }),
      creations: new RateLimiterMemory({ points: limits.createsPerHour, duration: 3600 }),
      events: new RateLimiterMemory({ points: limits.eventsPerMinute, duration: 60 }),
    };
    this.auditStreamsByIp = new ConnectionsPerIp(limits.auditStreamsPerIp);
  }

  /**
   * Takes a place for an audit bundle sent to `ip`, within `auditStreamsPerIp` and `auditStreams`; throws
   * RATE_LIMITED when there is none. Call what it returns once the answer ended, however it ended.
   */
  openAuditStream(ip: string): () => void {
    if (!this.auditStreamsByIp.room(ip) || this.auditStreamsOpen >= this.limits.auditStreams) {
      throw new RateLimitedError('audit bundles being sent at once', AUDIT_RETRY_SECONDS);
    }
    this.auditStreamsByIp.opened(ip);
    this.auditStreamsOpen++;
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      this.auditStreamsByIp.closed(ip);
      this.auditStreamsOpen--;
    };
  }

  /** Counts one `what` for each key (an IP address, an Ethereum address, a connection); throws when one is over. */
  async take(what: Counted, ...keys: string[]): Promise<void> {
    for (const key of keys) {
      try {
        await this.windows[what].consume(key);
      } catch (refusal) {
        if (!(refusal instanceof RateLimiterRes)) throw refusal;
        throw new RateLimitedError(what, Math.max(1, Math.ceil(refusal.msBeforeNext / 1000)));
      }
    }
  }
}
