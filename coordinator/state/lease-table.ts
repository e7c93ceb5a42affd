/**
 * Leases: which coordinator instance runs a task (or sends transactions) for now, and the fence that keeps an
 * instance that lost its lease from writing into what another now runs.
 */
import type { Transaction } from 'kysely';
import type { Db, Tables } from './database.js';

/**
 * The lease a write is made under: it commits only while `holder` still holds `name`, so an instance that lost a
 * task to another (it stalled past its lease) cannot write into the round the other now runs.
 */
export interface Fence {
  name: string;
  holder: string;
}

export class LeaseLost extends Error {}

export class LeaseTable {
  constructor(private readonly db: Db) {}

  /**
   * Takes or renews the lease `name` for `holder` until `ttlMs` from now; true when `holder` has it. A lease is
   * taken from another holder only once it expired.
   */
  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const values = { holder, expires_at: now + ttlMs };
    const row = await this.db
      .insertInto('leases')
      .values({ name, ...values })
      .onConflict((conflict) =>
        conflict
          .column('name')
          .doUpdateSet(values)
          .where((eb) => eb.or([eb('leases.holder', '=', holder), eb('leases.expires_at', '<', now)])),
      )
      .returning('holder')
      .executeTakeFirst();
    return row?.holder === holder;
  }

  async release(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }

  /** Who holds the lease `name` now, if anyone. */
  async holder(name: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('leases')
      .select('holder')
      .where('name', '=', name)
      .where('expires_at', '>=', Date.now())
      .executeTakeFirst();
    return row?.holder;
  }
}

/**
 * Throws LeaseLost unless the fence's holder still holds its lease. On PostgreSQL the lease row stays locked until
 * the transaction ends, so no other instance takes the lease between this check and the commit; a lease that ran
 * out but that nobody took yet is still the holder's (what it writes, a taker reads).
 */
export async function checkFence(trx: Transaction<Tables>, fence: Fence | undefined, rowLocks: boolean): Promise<void> {
  if (!fence) return;
  const lease = await trx
    .selectFrom('leases')
    .select('holder')
    .where('name', '=', fence.name)
    // SQLite has no row locks: its transactions hold the whole database.
    .$if(rowLocks, (query) => query.forUpdate())
    .executeTakeFirst();
  if (lease?.holder !== fence.holder) throw new LeaseLost(`${fence.holder} no longer holds ${fence.name}`);
}
