/**
 * The socket.io shell over the coordinator: authenticates each connection (a Sign-In with Ethereum message over a
 * server nonce, coordinator/surface/sign-in.ts), bounds what one connection may send, validates every inbound event at the
 * boundary, and keeps the directory of who is connected to which task. Handlers parse and delegate; rules live in
 * the coordinator.
 */
import type { Server, Socket } from 'socket.io';
import { createLogger } from '../../common/log.js';
import { Slices } from '../../common/slices.js';
import {
  type Ack,
  type ClientToServerEvents,
  clientEventNames,
  joinPayloadSchema,
  type ServerToClientEvents,
  updatePayloadSchema,
} from '../../protocol/events.js';
import { type ErrorCode, toErrorBody, ZkflError } from '../../common/errors.js';
import { parseOrThrow } from '../../protocol/validate.js';
import type { Coordinator } from '../coordinator.js';
import type { RateLimiter } from './rate-limits.js';
import type { Authenticator } from './sign-in.js';
import type { InterServerEvents } from '../instances/cluster.js';
import type { ClientDirectory } from '../tasks/runner-context.js';

interface SocketData {
  address: string;
  taskId?: string;
  /** Malformed events this connection sent so far. */
  malformed: number;
}

export type GatewayServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type GatewaySocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

const log = createLogger('gateway');

/** The room of every connection joined to a task, on any instance. */
const taskRoom = (taskId: string): string => `task:${taskId}`;

/**
 * Who is connected to which task: the coordinator's view of its clients. With several instances (`clustered`) it
 * lists the clients of every instance, each by the id of the socket it joined with, and reaches those of other
 * instances through the adapter.
 */
export class SocketDirectory implements ClientDirectory {
  /** task → address → id of the socket it joined with, here or on another instance. */
  private readonly members = new Map<string, Map<string, string>>();
  /** This instance's joined sockets. */
  private readonly local = new Map<string, GatewaySocket>();

  constructor(
    private readonly io: GatewayServer,
    readonly clustered: boolean,
  ) {}

  connected(taskId: string): string[] {
    return [...(this.members.get(taskId)?.keys() ?? [])];
  }

  send<E extends keyof ServerToClientEvents>(
    taskId: string,
    address: string,
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void {
    const id = this.members.get(taskId)?.get(address);
    if (id === undefined) return;
    const socket = this.local.get(id);
    if (socket) socket.emit(event, ...args);
    else if (this.clustered) this.io.to(id).emit(event, ...args);
  }

  /**
   * `address` joined `taskId` over socket `id` (this instance's `socket`, or one of another instance); returns the
   * id of the socket it replaces (same address, same task), if any.
   */
  joined(taskId: string, address: string, id: string, socket?: GatewaySocket): string | undefined {
    if (socket) this.local.set(id, socket);
    const members = this.members.get(taskId) ?? new Map<string, string>();
    this.members.set(taskId, members);
    const previous = members.get(address);
    members.set(address, id);
    return previous === id ? undefined : previous;
  }

  /** Socket `id` left; true when it was still the one `address` is known by. */
  left(taskId: string, address: string, id: string): boolean {
    this.local.delete(id);
    const members = this.members.get(taskId);
    if (members?.get(address) !== id) return false;
    members.delete(address);
    return true;
  }

  /**
   * Checks a task's members against the sockets every instance holds: those of an instance that died are gone.
   * Returns their addresses. Entries added while the sockets are fetched are kept.
   */
  async refresh(taskId: string): Promise<string[]> {
    const members = this.members.get(taskId);
    if (!this.clustered || !members?.size) return [];
    const known = [...members];
    const live = new Set((await this.io.in(taskRoom(taskId)).fetchSockets()).map((socket) => socket.id));
    return known.filter(([address, id]) => !live.has(id) && this.left(taskId, address, id)).map(([address]) => address);
  }

  /** Learns the members of a task this instance starts running from every instance's sockets. */
  async load(taskId: string): Promise<void> {
    if (!this.clustered) return;
    for (const socket of await this.io.in(taskRoom(taskId)).fetchSockets()) {
      if (socket.data.taskId === taskId) this.joined(taskId, socket.data.address, socket.id);
    }
  }
}

/** An event's payload and ack: a client that sends only a callback sent no payload, and the callback is its ack. */
function payloadAndAck(payload: unknown, ack: unknown): [unknown, unknown] {
  return typeof payload === 'function' ? [undefined, payload] : [payload, ack];
}

/** What a client that follows the protocol never sends: enough of these and the connection is dropped. */
const malformedCodes: ReadonlySet<ErrorCode> = new Set([
  'VALIDATION_FAILED',
  'MALFORMED_PAYLOAD',
  'UNKNOWN_EVENT',
  'PAYLOAD_TOO_LARGE',
]);

export interface GatewayContext {
  coordinator: Coordinator;
  directory: SocketDirectory;
  auth: Authenticator;
  rateLimiter: RateLimiter;
  maxPayloadBytes: number;
}

/** The largest frame a connection may send before it joined a task: a sign-in, a join, a dashboard's watch. */
export const preAuthFrameBytes = 64 * 1024;

/**
 * Sets the largest frame `socket` may send from now on; a larger one closes the connection unread. socket.io has
 * one limit for every connection (`maxHttpBufferSize`), kept small for those not signed in; a joined client's
 * updates need more, so its own websocket's limit is raised (the ws receiver's, which engine.io does not expose).
 */
function allowFrames(socket: GatewaySocket, bytes: number): void {
  type Transport = { socket?: { _receiver?: { _maxPayload?: number } } };
  const receiver = (socket.conn.transport as unknown as Transport).socket?._receiver;
  if (receiver?._maxPayload === undefined) throw new Error('cannot raise the frame limit of this connection');
  receiver._maxPayload = bytes;
}

export function attachGateway(io: GatewayServer, context: GatewayContext): void {
  const gateway = new Gateway(io, context);
  io.use((socket, next) => gateway.signIn(socket, next));
  io.on('connection', (socket) => gateway.connected(socket));
  // What the other instances' clients do.
  io.on('zkfl:joined', (taskId, address, id) => {
    const replaced = context.directory.joined(taskId, address, id);
    context.coordinator.clientJoined(taskId, replaced ? address : undefined);
  });
  io.on('zkfl:left', (taskId, address, id) => {
    if (context.directory.left(taskId, address, id)) context.coordinator.clientLeft(taskId, address);
  });
}

/** The socket surface: sign-in at the handshake, then each event of a signed-in client, answered with a code. */
class Gateway {
  /** Events from all connections take turns with the rest of the event loop's work (common/slices.ts). */
  private readonly slices = new Slices();

  constructor(
    private readonly io: GatewayServer,
    private readonly context: GatewayContext,
  ) {}

  /**
   * The handshake: a connection opens only for a valid sign-in or a live session, within the sign-in limits per IP
   * and address.
   */
  signIn(socket: GatewaySocket, next: (error?: Error) => void): void {
    const { rateLimiter, auth } = this.context;
    const refuse = (error: unknown): void => {
      const body =
        error instanceof ZkflError ? toErrorBody(error) : { code: 'AUTH_FAILED', message: 'sign-in refused' };
      log.warn('refused a connection', { code: body.code, reason: body.message });
      next(Object.assign(new Error(body.message), { data: body }));
    };
    Promise.resolve()
      .then(() => rateLimiter.take('sign-ins', socket.handshake.address))
      .then(() => auth.connectionAddress(socket.handshake.auth))
      .then(async (address) => {
        await rateLimiter.take('sign-ins', address);
        socket.data.address = address;
        socket.data.malformed = 0;
        next();
      })
      .catch(refuse);
  }

  connected(socket: GatewaySocket): void {
    log.debug('client connected', { address: socket.data.address });
    socket.use((packet, next) => {
      this.context.rateLimiter.take('events', socket.id).then(
        // Packets that were on their way when the connection was dropped are not served.
        () => socket.connected && next(),
        (error: unknown) =>
          this.reply(packet.at(-1), socket, () => {
            throw error;
          }),
      );
    });
    socket.onAny((event: string, ...args: unknown[]) => {
      if ((clientEventNames as readonly string[]).includes(event)) return;
      this.reply(args.at(-1), socket, () => {
        throw new ZkflError(
          'UNKNOWN_EVENT',
          `unknown event "${event}"; expected one of ${clientEventNames.join(', ')}`,
        );
      });
    });
    socket.on('join', (...sent) => {
      const [payload, ack] = payloadAndAck(...sent);
      this.reply(ack, socket, () => this.join(socket, payload));
    });
    socket.on('update', (...sent) => {
      const [payload, ack] = payloadAndAck(...sent);
      this.reply(ack, socket, () => this.update(socket, payload));
    });
    socket.on('disconnect', (reason) => {
      log.debug('client disconnected', { address: socket.data.address, reason });
      this.leave(socket);
    });
  }

  /** Runs a handler and answers through the ack, or with a `zkfl:error` event when the client sent none. */
  private reply(ack: unknown, socket: GatewaySocket, work: () => object | Promise<object>): void {
    const answer = (response: Parameters<Ack>[0]): void => {
      if (typeof ack === 'function') (ack as Ack)(response);
      else if (!response.ok) socket.emit('zkfl:error', response.error);
    };
    const fail = (error: unknown): void => {
      if (!(error instanceof ZkflError))
        log.error('handler failed', { error: (error as Error).stack ?? String(error) });
      const body = toErrorBody(error);
      answer({ ok: false, error: body });
      if (malformedCodes.has(body.code)) this.countMalformed(socket);
    };
    this.slices.run(() => {
      try {
        void Promise.resolve(work()).then((result) => answer({ ok: true, ...result }), fail);
      } catch (error) {
        fail(error);
      }
    });
  }

  /** A connection that keeps sending malformed events is dropped, saying why. */
  private countMalformed(socket: GatewaySocket): void {
    const { malformedEvents } = this.context.rateLimiter.limits;
    // Once: the packets a dropped connection had already sent still arrive here.
    if (++socket.data.malformed < malformedEvents || !socket.connected) return;
    log.warn('disconnected a client sending malformed events', { address: socket.data.address });
    socket.emit('zkfl:error', {
      code: 'RATE_LIMITED',
      message: `${socket.data.malformed} malformed events: disconnected`,
    });
    socket.disconnect(true);
  }

  private async join(socket: GatewaySocket, payload: unknown): Promise<object> {
    const { coordinator, directory, maxPayloadBytes } = this.context;
    const { address } = socket.data;
    const { taskId, consent } = parseOrThrow(joinPayloadSchema, payload, 'join payload');
    const joined = await coordinator.join(taskId, address, consent);
    if (!socket.connected) return joined;
    // Its updates, twice over: an update too large is still read, and refused with its code.
    allowFrames(socket, Math.min(2 * (await coordinator.updateBytes(taskId)), 2 * maxPayloadBytes));
    if (socket.data.taskId && socket.data.taskId !== taskId) this.leave(socket);
    socket.data.taskId = taskId;
    void socket.join(taskRoom(taskId));
    const replaced = directory.joined(taskId, address, socket.id, socket);
    // Before the older connection is dropped: its instance then knows the address has a newer one.
    if (directory.clustered) this.io.serverSideEmit('zkfl:joined', taskId, address, socket.id);
    if (replaced) this.supersede(replaced, taskId, address);
    log.info('client joined', { task: taskId, address });
    // After the ack, so the client has processed it before a round:start can arrive.
    setImmediate(() => coordinator.clientJoined(taskId, replaced ? address : undefined));
    return joined;
  }

  /**
   * The newer connection wins (a client that reconnected, or a second one run with the same key); the older, on
   * whichever instance, is told why before it is dropped.
   */
  private supersede(replaced: string, taskId: string, address: string): void {
    this.io.in(replaced).emit('zkfl:error', {
      code: 'SUPERSEDED',
      message: `another connection signed in as ${address} joined task ${taskId}; give each client its own key`,
    });
    this.io.in(replaced).disconnectSockets(true);
    log.warn('a newer connection took over an address', { task: taskId, address });
  }

  private async update(socket: GatewaySocket, payload: unknown): Promise<object> {
    const { coordinator, maxPayloadBytes } = this.context;
    const q = (payload as { q?: unknown } | undefined)?.q;
    if (q instanceof Uint8Array && q.byteLength > maxPayloadBytes) {
      throw new ZkflError(
        'PAYLOAD_TOO_LARGE',
        `update of ${q.byteLength} bytes exceeds the limit of ${maxPayloadBytes}`,
      );
    }
    const update = parseOrThrow(updatePayloadSchema, payload, 'update payload');
    const receipt = await coordinator.submitUpdate(socket.data.address, socket.data.taskId, update);
    return receipt ? { receipt } : {};
  }

  private leave(socket: GatewaySocket): void {
    const { taskId, address } = socket.data;
    if (!taskId) return;
    void socket.leave(taskRoom(taskId));
    if (this.context.directory.clustered) this.io.serverSideEmit('zkfl:left', taskId, address, socket.id);
    if (this.context.directory.left(taskId, address, socket.id)) this.context.coordinator.clientLeft(taskId, address);
  }
}
