/** What the coordinator keeps of each data holder: its consents to tasks' terms, and its activity over all tasks. */
import type { Consent } from '../../protocol/terms.js';
import { taskKey as taskKeyOf } from '../../circuits/statement.js';
import type { Db } from './database.js';
import { now } from './store.js';

/** An accepted update as its sender's history lists it. */
interface HolderUpdate {
  taskId: string;
  round: number;
  commitment: string | null;
  score: number | null;
  amount: string | null;
}

export class HolderTable {
  constructor(private readonly db: Db) {}

  /** Records (or renews) `address`'s consent to the task's terms. */
  async recordConsent(taskId: string, address: string, consent: Consent): Promise<void> {
    const values = { terms_hash: consent.termsHash, signature: consent.signature, at: now() };
    await this.db
      .insertInto('consents')
      .values({ task_id: taskId, address, ...values })
      .onConflict((conflict) => conflict.columns(['task_id', 'address']).doUpdateSet(values))
      .execute();
  }

  /** `address`'s consent to the task, if it gave one. */
  async consent(taskId: string, address: string): Promise<(Consent & { address: string }) | undefined> {
    const row = await this.consentsOf(taskId).where('address', '=', address).executeTakeFirst();
    return row && { ...row, taskKey: taskKeyOf(taskId) };
  }

  async consents(taskId: string): Promise<Array<Consent & { address: string }>> {
    const rows = await this.consentsOf(taskId).orderBy('address').execute();
    return rows.map((row) => ({ ...row, taskKey: taskKeyOf(taskId) }));
  }

  private consentsOf(taskId: string) {
    return this.db
      .selectFrom('consents')
      .select(['address', 'terms_hash as termsHash', 'signature'])
      .where('task_id', '=', taskId);
  }

  /** Everything `address` did here: its consents, accepted updates and listed rejections, over all tasks. */
  async activity(address: string): Promise<{
    consents: Array<{ taskId: string; termsHash: string; at: string }>;
    updates: HolderUpdate[];
    rejections: number;
  }> {
    const [consents, updates, rejections] = await Promise.all([
      this.db
        .selectFrom('consents')
        .select(['task_id as taskId', 'terms_hash as termsHash', 'at'])
        .where('address', '=', address)
        .orderBy('at')
        .execute(),
      this.db
        .selectFrom('updates')
        .select(['task_id as taskId', 'round', 'commitment', 'score', 'amount'])
        .where('address', '=', address)
        .orderBy('task_id')
        .orderBy('round')
        .execute(),
      this.db
        .selectFrom('rejections')
        .select((eb) => eb.fn.countAll().as('count'))
        .where('address', '=', address)
        .executeTakeFirstOrThrow(),
    ]);
    return { consents, updates, rejections: Number(rejections.count) };
  }
}
