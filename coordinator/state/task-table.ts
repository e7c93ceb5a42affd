/** Tasks: their spec, status, current round and model, from creation to their end. */
import type { TaskStatus } from '../../protocol/states.js';
import type { TaskView, ZkView } from '../../protocol/rest.js';
import type { TaskSpec } from '../../protocol/task-spec.js';
import type { Tables } from './database.js';
import { insertRound } from './round-table.js';
import { now, type StoreContext } from './store.js';

function toTaskView(row: Tables['tasks']): TaskView {
  return {
    id: row.id,
    spec: JSON.parse(row.spec) as TaskSpec,
    zk: JSON.parse(row.zk) as ZkView,
    status: row.status,
    currentRound: row.current_round,
    numParams: row.num_params,
    modelHash: row.model_hash,
    createdAt: row.created_at,
    ...(row.reason === null ? {} : { reason: row.reason }),
  };
}

export class TaskTable {
  constructor(private readonly store: StoreContext) {}

  /** Adds a running task and opens its first round. */
  async create(task: { id: string; spec: TaskSpec; zk: ZkView; numParams: number; modelHash: string }): Promise<void> {
    const createdAt = now();
    await this.store.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('tasks')
        .values({
          id: task.id,
          spec: JSON.stringify(task.spec),
          zk: JSON.stringify(task.zk),
          status: 'running',
          current_round: 1,
          num_params: task.numParams,
          model_hash: task.modelHash,
          created_at: createdAt,
        })
        .execute();
      await insertRound(trx, task.id, 1, task.modelHash, createdAt);
    });
  }

  async get(id: string): Promise<TaskView | undefined> {
    const row = await this.store.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toTaskView(row);
  }

  async list(status?: TaskStatus): Promise<TaskView[]> {
    let query = this.store.db.selectFrom('tasks').selectAll().orderBy('created_at').orderBy('id');
    if (status) query = query.where('status', '=', status);
    return (await query.execute()).map(toTaskView);
  }

  /** Up to `limit` tasks created after `after`, in the order `list` gives them: a long list read a page at a time. */
  async page(after: Pick<TaskView, 'createdAt' | 'id'> | undefined, limit: number): Promise<TaskView[]> {
    let query = this.store.db.selectFrom('tasks').selectAll().orderBy('created_at').orderBy('id').limit(limit);
    if (after)
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '>', after.createdAt),
          eb.and([eb('created_at', '=', after.createdAt), eb('id', '>', after.id)]),
        ]),
      );
    return (await query.execute()).map(toTaskView);
  }

  /** Ends a task before its last round, saying why (completed: it reached its privacy budget). */
  async end(taskId: string, status: Exclude<TaskStatus, 'running'>, reason: string): Promise<void> {
    await this.store.write((trx) =>
      trx.updateTable('tasks').set({ status, reason }).where('id', '=', taskId).execute(),
    );
  }
}
