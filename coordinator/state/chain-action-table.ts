/** The transactions the coordinator owes the chain, in the order they must reach it, until the chain shows them done. */
import type { Db } from './database.js';

/** A transaction the coordinator owes the chain, persisted until the chain shows it done. */
export interface ChainAction {
  taskId: string;
  round: number;
  /**
   * bond: make the coordinator's bond whole before the round opens; open: [modelHash]; close: [acceptedRoot, acceptedCount, total];
   * answer: show the chunk proofs of a challenged leaf (subject: its index); show: show the leaf an omission claim
   * names (subject: the contributor).
   */
  kind: 'bond' | 'open' | 'close' | 'answer' | 'show';
  subject: string;
  args: Array<string | number>;
  status: 'pending' | 'done' | 'failed';
  /** The signed transaction, kept so a retry re-sends the very same one (same nonce: executed at most once). */
  rawTx: string | null;
  txHash: string | null;
  attempts: number;
  lastError: string | null;
}

type ActionKey = Pick<ChainAction, 'taskId' | 'round' | 'kind' | 'subject'>;

export class ChainActionTable {
  constructor(private readonly db: Db) {}

  /** Adds an action unless the same (task, round, kind, subject) is known: deriving actions again is harmless. */
  async add(
    action: Pick<ChainAction, 'taskId' | 'round' | 'kind' | 'args'> & Partial<Pick<ChainAction, 'subject'>>,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const { last } = await trx
        .selectFrom('chain_actions')
        .select((eb) => eb.fn.max('position').as('last'))
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('chain_actions')
        .values({
          task_id: action.taskId,
          round: action.round,
          kind: action.kind,
          subject: action.subject ?? '',
          position: Number(last ?? 0) + 1,
          args: JSON.stringify(action.args),
        })
        .onConflict((conflict) => conflict.columns(['task_id', 'round', 'kind', 'subject']).doNothing())
        .execute();
    });
  }

  /** Pending actions in the order they must reach the chain. */
  pending(): Promise<ChainAction[]> {
    return this.where('status', 'pending');
  }

  /** Every action of a task, in the order they were derived (a settlement timeline). */
  ofTask(taskId: string): Promise<ChainAction[]> {
    return this.where('task_id', taskId);
  }

  private async where(column: 'status' | 'task_id', value: string): Promise<ChainAction[]> {
    const rows = await this.db
      .selectFrom('chain_actions')
      .select([
        'task_id as taskId',
        'round',
        'kind',
        'subject',
        'args',
        'status',
        'raw_tx as rawTx',
        'tx_hash as txHash',
        'attempts',
        'last_error as lastError',
      ])
      .where(column, '=', value)
      .orderBy('position')
      .execute();
    return rows.map((row) => ({
      ...row,
      kind: row.kind as ChainAction['kind'],
      status: row.status as ChainAction['status'],
      args: JSON.parse(row.args) as ChainAction['args'],
    }));
  }

  async update(
    action: ActionKey,
    change: Partial<Pick<ChainAction, 'status' | 'rawTx' | 'txHash' | 'attempts' | 'lastError'>>,
  ): Promise<void> {
    const columns = {
      ...(change.status !== undefined ? { status: change.status } : {}),
      ...(change.rawTx !== undefined ? { raw_tx: change.rawTx } : {}),
      ...(change.txHash !== undefined ? { tx_hash: change.txHash } : {}),
      ...(change.attempts !== undefined ? { attempts: change.attempts } : {}),
      ...(change.lastError !== undefined ? { last_error: change.lastError } : {}),
    };
    if (Object.keys(columns).length === 0) return;
    await this.db
      .updateTable('chain_actions')
      .set(columns)
      .where('task_id', '=', action.taskId)
      .where('round', '=', action.round)
      .where('kind', '=', action.kind)
      .where('subject', '=', action.subject)
      .execute();
  }
}
