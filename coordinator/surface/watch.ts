/**
 * The public `/watch` namespace (protocol/events.ts): relays a coordinator's progress events to whoever follows a
 * task — the dashboard, without signing in. It carries only what the REST API shows anyway; its connections count
 * against the same limit per IP address as every other (coordinator/server.ts).
 */
import type { Namespace, Server } from 'socket.io';
import type { WatchClientToServerEvents, WatchServerToClientEvents } from '../../protocol/watch.js';
import { watchNamespace } from '../../protocol/watch.js';
import type { Coordinator } from '../coordinator.js';

/** Rooms a connection may follow at once: enough for a dashboard, not a way to hold memory. */
const maxWatchedTasks = 100;

export function attachWatch(io: Server, coordinator: Coordinator): void {
  // The server is typed with the gateway's events; this namespace has its own.
  const watchers = io.of(watchNamespace) as unknown as Namespace<WatchClientToServerEvents, WatchServerToClientEvents>;
  watchers.on('connection', (socket) => {
    socket.on('watch', (taskId, ack) => {
      if (typeof taskId === 'string' && taskId.length <= 64 && socket.rooms.size <= maxWatchedTasks) {
        void socket.join(taskId);
      }
      if (typeof ack === 'function') ack();
    });
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
