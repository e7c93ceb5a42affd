/**
 * Several coordinator instances as one deployment (`--database postgres://… --redis redis://…`). Their socket.io
 * servers share Redis through the streams adapter (which survives Redis reconnects), so a client may connect to any
 * instance: the instance it joined tells the others (`zkfl:joined`, `zkfl:left`), an event for it is emitted to its
 * socket wherever that is, and what only the instance running a task can do (take an update, cancel) is sent there
 * as a request and answered as a reply, over the same adapter. Which instance runs a task is its lease in the
 * database (Coordinator).
 */
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis, type RedisOptions } from 'ioredis';
import { createLogger } from '../../common/log.js';
import { type ErrorBody, toErrorBody, ZkflError } from '../../common/errors.js';
import { redisConnection } from '../tasks/verification-queue.js';

const log = createLogger('cluster');

export interface ClusterRequest {
  id: string;
  from: string;
  to: string;
  kind: string;
  body: unknown;
}

export interface ClusterReply {
  id: string;
  to: string;
  /** The instance asked does not run the task (any more): ask whoever holds its lease now. */
  notHere?: true;
  error?: ErrorBody;
  value?: unknown;
}

/** Events between coordinator instances (socket.io's server-side events). */
export interface InterServerEvents {
  'zkfl:joined': (taskId: string, address: string, socketId: string) => void;
  'zkfl:left': (taskId: string, address: string, socketId: string) => void;
  'zkfl:request': (request: ClusterRequest) => void;
  'zkfl:reply': (reply: ClusterReply) => void;
}

/** What a cluster message travels over: socket.io's server, as far as server-side events go. */
interface ServerSide {
  serverSideEmit<E extends keyof InterServerEvents>(event: E, ...args: Parameters<InterServerEvents[E]>): boolean;
  on<E extends keyof InterServerEvents>(event: E, listener: InterServerEvents[E]): unknown;
}

/** The instance asked no longer runs the task. */
export class NotHere extends Error {}

/** Thrown by a request handler: the task does not run on this instance. */
export const notHere = new NotHere('the task does not run here');

/** A Redis connection shared by the adapter (which opens its own for blocking reads) and the sign-in tokens. */
export function connectRedis(redisUrl: string): Redis {
  const redis = new Redis(redisConnection(redisUrl) as RedisOptions);
  redis.on('error', (error: Error) => log.warn('redis connection', { error: error.message }));
  return redis;
}

/** The socket.io adapter over Redis streams. */
export const redisAdapter = (redis: Redis): ReturnType<typeof createAdapter> =>
  createAdapter(redis, { streamName: 'zkfl:socket.io' });

/** Requests to the instance running a task, and the answers to those sent here. */
export class ClusterRequests {
  private readonly waiting = new Map<string, { resolve(value: unknown): void; reject(error: Error): void }>();
  private nextId = 0;

  constructor(
    private readonly server: ServerSide,
    /** This instance's name, as its leases give it. */
    private readonly instance: string,
    handle: (kind: string, body: unknown) => Promise<unknown>,
  ) {
    server.on('zkfl:request', (request) => {
      if (request.to !== this.instance) return;
      const reply = (answer: Omit<ClusterReply, 'id' | 'to'>): boolean =>
        server.serverSideEmit('zkfl:reply', { id: request.id, to: request.from, ...answer });
      handle(request.kind, request.body).then(
        (value) => reply({ value }),
        (error: unknown) => {
          if (error instanceof NotHere) return reply({ notHere: true });
          if (!(error instanceof ZkflError)) {
            log.error('request from another instance failed', { kind: request.kind, error: String(error) });
          }
          return reply({ error: toErrorBody(error) });
        },
      );
    });
    server.on('zkfl:reply', (reply) => {
      const waiter = reply.to === this.instance ? this.waiting.get(reply.id) : undefined;
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if (reply.notHere) waiter.reject(new NotHere(`${reply.id}: not there`));
      else if (reply.error) waiter.reject(new ZkflError(reply.error.code, reply.error.message, reply.error.field));
      else waiter.resolve(reply.value);
    });
  }

  /**
   * Asks instance `to`; rejects with NotHere when it answers that it does not run the task, or when `stillThere`
   * (checked every second) says it went away meanwhile.
   */
  request(to: string, kind: string, body: unknown, stillThere: () => Promise<boolean>): Promise<unknown> {
    const id = `${this.instance}:${++this.nextId}`;
    return new Promise((resolve, reject) => {
      const check = setInterval(() => {
        stillThere().then(
          (there) => {
            if (there || !this.waiting.has(id)) return;
            this.waiting.delete(id);
            clearInterval(check);
            reject(new NotHere(`${to} went away`));
          },
          () => undefined,
        );
      }, 1000);
      const done =
        <T>(settle: (value: T) => void) =>
        (value: T) => {
          clearInterval(check);
          settle(value);
        };
      this.waiting.set(id, { resolve: done(resolve), reject: done(reject) });
      this.server.serverSideEmit('zkfl:request', { id, from: this.instance, to, kind, body });
    });
  }
}
