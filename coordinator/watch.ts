/**
 * The public `/watch` namespace (protocol/events.ts): relays a coordinator's progress events to whoever follows a
 * task — the dashboard, without signing in. It carries only what the REST API shows anyway, and bounds
 * connections per IP address like the gateway does.
 */
import type { Namespace, Server } from 'socket.io';
import type { WatchClientToServerEvents, WatchServerToClientEvents } from '../protocol/watch.js';
import { watchNamespace } from '../protocol/watch.js';
import type { Coordinator } from './coordinator.js';

/** Rooms a connection may follow at once: enough for a dashboard, not a way to hold memory. */
const maxWatchedTasks = 100;

export function attachWatch(io: Server, coordinator: Coordinator, connectionsPerIp: number): void {
  // The server is typed with the gateway's events; this namespace has its own.
  const watchers = io.of(watchNamespace) as unknown as Namespace<WatchClientToServerEvents, WatchServerToClientEvents>;
  const open = new Map<string, number>();
  watchers.use((socket, next) => {
    const ip = socket.handshake.address;
    if ((open.get(ip) ?? 0) >= connectionsPerIp) next(new Error(`${connectionsPerIp} connections from ${ip} are open`));
    else next();
  });
  watchers.on('connection', (socket) => {
    const ip = socket.handshake.address;
    open.set(ip, (open.get(ip) ?? 0) + 1);
    socket.on('watch', (taskId) => {
      if (typeof taskId === 'string' && taskId.length <= 64 && socket.rooms.size <= maxWatchedTasks) {
        void socket.join(taskId);
      }
    });
    socket.on('disconnect', () => {
      const left = (open.get(ip) ?? 1) - 1;
      if (left > 0) open.set(ip, left);
      else open.delete(ip);
    });
  });
  const { events } = coordinator;
  events.on('round:open', ({ taskId, round, attempt }) =>
    watchers.to(taskId).emit('round:open', { taskId, round, attempt }),
  );
  events.on('update:accepted', ({ taskId, round, address }) =>
    watchers.to(taskId).emit('update:accepted', { taskId, round, address }),
  );
  events.on('round:end', (summary) => {
    const round = coordinator.getRound(summary.taskId, summary.round);
    watchers.to(summary.taskId).emit('round:end', {
      taskId: summary.taskId,
      round: summary.round,
      accuracy: summary.accuracy,
      loss: summary.loss,
      participants: summary.participants,
      proofsVerified: round.proofsVerified,
      proofsRejected: round.proofsRejected,
    });
  });
  events.on('task:end', (payload) => watchers.to(payload.taskId).emit('task:end', payload));
}
