/**
 * Durable state: tasks, rounds, accepted updates, rejections, consents, the chain actions owed, uploads, leases and
 * each open round's running sum, in SQLite or PostgreSQL (database.ts), one table module per concern. An update is
 * acknowledged only after the transaction that records it and the new running sum commits, so a coordinator killed
 * at any moment restarts with every accepted update and every finished round. Model checkpoints live beside the
 * database as files (see ../tasks/checkpoints.ts).
 */
import type { Transaction } from 'kysely';
import { type Db, openDatabase, serverAway, type Tables } from './database.js';
import { ChainActionTable } from './chain-action-table.js';
import { HolderTable } from './holder-table.js';
import { checkFence, type Fence, LeaseTable } from './lease-table.js';
import { RoundTable } from './round-table.js';
import type { StoreContext } from './store.js';
import { TaskTable } from './task-table.js';
import { defaultRejectionLimits, type RejectionLimits, UpdateTable } from './update-table.js';
import { UploadTable } from './upload-table.js';
import { createLogger } from '../../common/log.js';

const log = createLogger('database');

export class Storage {
  readonly tasks: TaskTable;
  readonly rounds: RoundTable;
  readonly updates: UpdateTable;
  readonly holders: HolderTable;
  readonly chainActions: ChainActionTable;
  readonly uploads: UploadTable;
  readonly leases: LeaseTable;

  private constructor(
    private readonly db: Db,
    private readonly rejectionLimits: RejectionLimits,
    /** Several coordinator instances may share this database (PostgreSQL): tasks run under leases. */
    readonly shared: boolean,
    /** The lease a task runner's writes are made under (see `fenced`). */
    private readonly fence?: Fence,
  ) {
    const store: StoreContext = { db, write: (work) => this.write(work) };
    const table = <T extends object>(made: T): T => (shared ? retryingWhileAway(made) : made);
    const updates = new UpdateTable(store, rejectionLimits);
    this.updates = table(updates);
    this.tasks = table(new TaskTable(store));
    this.rounds = table(new RoundTable(store, updates));
    this.holders = table(new HolderTable(db));
    this.chainActions = table(new ChainActionTable(db));
    this.uploads = table(new UploadTable(db));
    this.leases = table(new LeaseTable(db));
  }

  /** Opens (and migrates) the database at `location`: a PostgreSQL URL or a SQLite file's path. */
  static async open(location: string, rejectionLimits = defaultRejectionLimits): Promise<Storage> {
    const { db, engine } = await openDatabase(location);
    return new Storage(db, rejectionLimits, engine === 'postgres');
  }

  /**
   * This storage with the writes a task runner makes (its round's phase, counts, updates, rejections, scores and
   * results, its task's end) committed only while `fence.holder` holds `fence.name`; LeaseLost otherwise.
   */
  fenced(fence: Fence): Storage {
    return new Storage(this.db, this.rejectionLimits, this.shared, fence);
  }

  close(): Promise<void> {
    return this.db.destroy();
  }

  /** A transaction that commits only under the fence, if this storage has one. */
  private write<T>(work: (trx: Transaction<Tables>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      await checkFence(trx, this.fence, this.shared);
      return work(trx);
    });
  }
}

/**
 * The table with every call retried while the PostgreSQL server is away (a restart): a transaction cut off by it
 * was rolled back, so running it again is safe. Other errors, and an outage past a minute, are thrown.
 */
function retryingWhileAway<T extends object>(table: T): T {
  return new Proxy(table, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]): Promise<unknown> => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await method.apply(target, args);
          } catch (error) {
            if (!serverAway(error) || attempt >= 120) throw error;
            if (attempt === 1) log.warn(`database call cut off, retrying: ${target.constructor.name}.${String(name)}`);
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
      };
    },
  });
}
