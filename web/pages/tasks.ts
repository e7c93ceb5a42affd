/** The coordinator's tasks, newest first. */
import { api } from '../api.js';
import { h, roundOf, show, status, table, taskLink, timeLeft } from '../dom.js';

export async function tasksPage(): Promise<void> {
  const tasks = await api.tasks();
  show(
    h('h1', {}, 'Tasks'),
    h('p', {}, h('a', { href: '#/new' }, 'New task')),
    tasks.length === 0
      ? h('p', { class: 'muted' }, 'No tasks yet.')
      : table(
          ['task', 'name', 'status', 'round', 'time left', 'connected', 'parameters', 'proofs', 'created'],
          [...tasks]
            .reverse()
            .map((task) => [
              taskLink(task),
              task.spec.name,
              status(task),
              roundOf(task),
              timeLeft(task),
              task.connected ?? '–',
              task.numParams.toLocaleString(),
              task.spec.proofs ? `${task.zk.chunks} per update` : 'off',
              new Date(task.createdAt).toLocaleString(),
            ]),
          [5, 6],
        ),
  );
}
