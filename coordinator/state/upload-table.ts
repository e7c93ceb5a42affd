/** Evaluation sets owners uploaded: who holds which, how large, and when last used (their files: evaluation-data.ts). */
import type { Db } from './database.js';

export class UploadTable {
  constructor(private readonly db: Db) {}

  /** Records that `owner` uploaded (or a new task of theirs uses) the evaluation set `id`, now. */
  async touch(id: string, owner: string, bytes: number): Promise<void> {
    const values = { bytes, used_at: Date.now() };
    await this.db
      .insertInto('uploads')
      .values({ id, owner, ...values })
      .onConflict((conflict) => conflict.columns(['id', 'owner']).doUpdateSet(values))
      .execute();
  }

  /** The bytes of `owner`'s upload `id`, or undefined when it is not theirs (or expired). */
  async bytes(id: string, owner: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('uploads')
      .select('bytes')
      .where('id', '=', id)
      .where('owner', '=', owner)
      .executeTakeFirst();
    return row?.bytes;
  }

  /** The bytes of all `owner`'s uploads, other than `except`: what counts against their quota. */
  async ownerBytes(owner: string, except: string): Promise<number> {
    const row = await this.db
      .selectFrom('uploads')
      .select((eb) => eb.fn.sum<number | string | null>('bytes').as('total'))
      .where('owner', '=', owner)
      .where('id', '!=', except)
      .executeTakeFirst();
    return Number(row?.total ?? 0);
  }

  /** Uploads neither uploaded nor used by a new task since `before` (ms). */
  stale(before: number): Promise<Array<{ id: string; owner: string }>> {
    return this.db.selectFrom('uploads').select(['id', 'owner']).where('used_at', '<', before).execute();
  }

  /** Forgets `owner`'s upload `id` (its files go once nobody holds it: EvaluationData.sweep). */
  async remove(id: string, owner: string): Promise<void> {
    await this.db.deleteFrom('uploads').where('id', '=', id).where('owner', '=', owner).execute();
  }

  /** Every upload id somebody holds. */
  async held(): Promise<Set<string>> {
    const rows = await this.db.selectFrom('uploads').select('id').distinct().execute();
    return new Set(rows.map((row) => row.id));
  }
}
