/**
 * The socket.io shell over the coordinator: authenticates each connection (address + EIP-191 signature over a
 * server nonce), validates every inbound event at the boundary, and keeps the directory of who is connected to
 * which task. Handlers parse and delegate; rules live in the coordinator.
 */
import { getAddress, verifyMessage } from 'ethers';
import type { Server, Socket } from 'socket.io';
import { createLogger } from '../common/log.js';
import {
  type Ack,
  authMessage,
  type ClientToServerEvents,
  clientEventNames,
  handshakeAuthSchema,
  joinPayloadSchema,
  type ServerToClientEvents,
  updatePayloadSchema,
} from '../protocol/events.js';
import { toErrorBody, ZkflError } from '../protocol/errors.js';
import { parseOrThrow } from '../protocol/validate.js';
import type { Coordinator } from './coordinator.js';
import type { NonceStore } from './nonces.js';
import type { ClientDirectory } from './task-runner.js';

interface SocketData {
  address: string;
  taskId?: string;
}

export type GatewayServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type GatewaySocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

const log = createLogger('gateway');

/** Who is connected to which task: the coordinator's view of its clients. */
export class SocketDirectory implements ClientDirectory {
  private readonly byTask = new Map<string, Map<string, GatewaySocket>>();

  connected(taskId: string): string[] {
    return [...(this.byTask.get(taskId)?.keys() ?? [])];
  }

  send<E extends keyof ServerToClientEvents>(
    taskId: string,
    address: string,
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void {
    this.byTask
      .get(taskId)
      ?.get(address)
      ?.emit(event, ...args);
  }

  /** Registers the socket under the task; returns the socket it replaces (same address, same task), if any. */
  add(taskId: string, socket: GatewaySocket): GatewaySocket | undefined {
    const sockets = this.byTask.get(taskId) ?? new Map<string, GatewaySocket>();
    this.byTask.set(taskId, sockets);
    const previous = sockets.get(socket.data.address);
    sockets.set(socket.data.address, socket);
    return previous === socket ? undefined : previous;
  }

  /** Removes the socket if it is still the one registered; true when it was. */
  remove(taskId: string, socket: GatewaySocket): boolean {
    const sockets = this.byTask.get(taskId);
    if (sockets?.get(socket.data.address) !== socket) return false;
    sockets.delete(socket.data.address);
    return true;
  }
}

/** An event's payload and ack: a client that sends only a callback sent no payload, and the callback is its ack. */
function payloadAndAck(payload: unknown, ack: unknown): [unknown, unknown] {
  return typeof payload === 'function' ? [undefined, payload] : [payload, ack];
}

/** Runs a handler and answers through the ack, or with a `zkfl:error` event when the client sent none. */
function reply(ack: unknown, socket: GatewaySocket, work: () => object | Promise<object>): void {
  const answer = (response: Parameters<Ack>[0]): void => {
    if (typeof ack === 'function') (ack as Ack)(response);
    else if (!response.ok) socket.emit('zkfl:error', response.error);
  };
  const fail = (error: unknown): void => {
    if (!(error instanceof ZkflError)) log.error('handler failed', { error: (error as Error).stack ?? String(error) });
    answer({ ok: false, error: toErrorBody(error) });
  };
  try {
    void Promise.resolve(work()).then((result) => answer({ ok: true, ...result }), fail);
  } catch (error) {
    fail(error);
  }
}

export function attachGateway(
  io: GatewayServer,
  coordinator: Coordinator,
  directory: SocketDirectory,
  nonces: NonceStore,
  maxPayloadBytes: number,
): void {
  io.use((socket, next) => {
    try {
      const auth = parseOrThrow(handshakeAuthSchema, socket.handshake.auth, 'handshake auth');
      if (!nonces.consume(auth.nonce))
        throw new ZkflError('AUTH_FAILED', 'unknown, used or expired nonce: fetch a new one from GET /api/auth/nonce');
      let signer: string;
      try {
        signer = verifyMessage(authMessage(auth.nonce), auth.signature);
      } catch {
        throw new ZkflError('AUTH_FAILED', 'signature is malformed');
      }
      if (signer !== getAddress(auth.address))
        throw new ZkflError('AUTH_FAILED', `signature is not by ${auth.address}`);
      socket.data.address = signer;
      next();
    } catch (error) {
      const body =
        error instanceof ZkflError && error.code !== 'VALIDATION_FAILED'
          ? toErrorBody(error)
          : { code: 'AUTH_FAILED', message: (error as Error).message };
      log.warn('refused a connection', { code: body.code, reason: body.message });
      next(Object.assign(new Error(body.message), { data: body }));
    }
  });

  io.on('connection', (socket) => {
    const { address } = socket.data;
    log.debug('client connected', { address });

    socket.onAny((event: string, ...args: unknown[]) => {
      if ((clientEventNames as readonly string[]).includes(event)) return;
      reply(args.at(-1), socket, () => {
        throw new ZkflError(
          'UNKNOWN_EVENT',
          `unknown event "${event}"; expected one of ${clientEventNames.join(', ')}`,
        );
      });
    });

    socket.on('join', (...sent) => {
      const [payload, ack] = payloadAndAck(...sent);
      reply(ack, socket, () => {
        const { taskId, consent } = parseOrThrow(joinPayloadSchema, payload, 'join payload');
        const joined = coordinator.join(taskId, address, consent);
        if (socket.data.taskId && socket.data.taskId !== taskId) leave(socket);
        socket.data.taskId = taskId;
        const replaced = directory.add(taskId, socket);
        if (replaced) {
          replaced.data.taskId = undefined;
          replaced.disconnect(true);
        }
        log.info('client joined', { task: taskId, address });
        // After the ack, so the client has processed it before a round:start can arrive.
        setImmediate(() => coordinator.clientJoined(taskId));
        return joined;
      });
    });

    socket.on('update', (...sent) => {
      const [payload, ack] = payloadAndAck(...sent);
      reply(ack, socket, async () => {
        const q = (payload as { q?: unknown } | undefined)?.q;
        if (q instanceof Uint8Array && q.byteLength > maxPayloadBytes) {
          throw new ZkflError(
            'PAYLOAD_TOO_LARGE',
            `update of ${q.byteLength} bytes exceeds the limit of ${maxPayloadBytes}`,
          );
        }
        const update = parseOrThrow(updatePayloadSchema, payload, 'update payload');
        const receipt = await coordinator.submitUpdate(address, socket.data.taskId, update);
        return receipt ? { receipt } : {};
      });
    });

    socket.on('disconnect', (reason) => {
      log.debug('client disconnected', { address, reason });
      leave(socket);
    });
  });

  function leave(socket: GatewaySocket): void {
    const { taskId } = socket.data;
    if (taskId && directory.remove(taskId, socket)) coordinator.clientLeft(taskId, socket.data.address);
  }
}
