/**
 * The public `/watch` namespace (protocol/events.ts): relays a coordinator's progress events to whoever follows a
 * task — the dashboard, without signing in. It carries only what the REST API shows anyway, and bounds
 * connections per IP address like the gateway does.
 */
import type { Namespace, Server } from 'socket.io';
import type { WatchClientToServerEvents, WatchServerToClientEvents } from '../protocol/watch.js';
import { watchNamespace } from '../protocol/watch.js';
import type { Coordinator } from './coordinator.js';
import { ConnectionsPerIp } from './rate-limits.js';

/** Rooms a connection may follow at once: enough for a dashboard, not a way to hold memory. */
const maxWatchedTasks = 100;

export function attachWatch(io: Server, coordinator: Coordinator, connectionsPerIp: number): void {
  // The server is typed with the gateway's events; this namespace has its own.
  const watchers = io.of(watchNamespace) as unknown as Namespace<WatchClientToServerEvents, WatchServerToClientEvents>;
  const connections = new ConnectionsPerIp(connectionsPerIp);
  watchers.use((socket, next) => {
    try {
      connections.check(socket.handshake.address);
      next();
    } catch (error) {
      next(error as Error);
    }
  });
  watchers.on('connection', (socket) => {
    const ip = socket.handshake.address;
    connections.opened(ip);
    socket.on('watch', (taskId) => {
      if (typeof taskId === 'string' && taskId.length <= 64 && socket.rooms.size <= maxWatchedTasks) {
        void socket.join(taskId);
      }
    });
    socket.on('disconnect', () => connections.closed(ip));
  });
  const { events } = coordinator;
  events.on('round:open', ({ taskId, round, attempt }) =>
    watchers.to(taskId).emit('round:open', { taskId, round, attempt }),
  );
  events.on('update:accepted', ({ taskId, round, address }) =>
    watchers.to(taskId).emit('update:accepted', { taskId, round, address }),
  );
  events.on('round:end', ({ rejected: _, seconds: __, ...summary }) =>
    watchers.to(summary.taskId).emit('round:end', summary),
  );
  events.on('task:end', (payload) => watchers.to(payload.taskId).emit('task:end', payload));
}
