/** Rounds: their phase and counts while they train, their results and signed records once they close. */
import type { Transaction } from 'kysely';
import type { RoundPhase } from '../../protocol/states.js';
import type { ParticipantView, RejectionView, RoundView } from '../../protocol/rest.js';
import type { RoundRecord, SignedRoundRecord } from '../../protocol/audit.js';
import type { Tables } from './database.js';
import { now, type StoreContext } from './store.js';

export interface RoundResult {
  accuracy: number;
  loss: number;
  modelHashAfter: string;
  /** True when this was the task's last round. */
  last: boolean;
  /** The round's record, signed by the coordinator. */
  signed: SignedRoundRecord;
}

/** What a round counts as it trains; each write adds to the stored counts. */
export interface RoundCounts {
  sampled?: number;
  answered?: number;
  proofsVerified?: number;
  proofsRejected?: number;
  verifySeconds?: number;
}

/** Rows a statement inserts at most: 4 parameters each, far within both engines' limits (32,766 and 65,535). */
const rowsPerInsert = 1000;

/** Whom a private round could sample (eligible) and whom it sent its model to (asked, a subset). */
export interface RoundSampling {
  eligible: string[];
  asked: string[];
}

/** Who took part in a round, as its view lists them (the update table). */
export interface RoundMembers {
  accepted(taskId: string, round: number): Promise<ParticipantView[]>;
  rejections(taskId: string, round: number): Promise<RejectionView[]>;
}

/** What a round's view is made of: every column but its signed record, which may be megabytes. */
const viewColumns = [
  'round',
  'phase',
  'attempts',
  'opened_at',
  'closed_at',
  'accuracy',
  'loss',
  'model_hash_before',
  'model_hash_after',
  'note',
  'epsilon',
  'proofs_verified',
  'proofs_rejected',
  'rejections_unlisted',
  'sampled',
  'answered',
  'verify_seconds',
] as const;

type RoundRow = Pick<
  Tables['rounds'],
  | 'round'
  | 'phase'
  | 'attempts'
  | 'opened_at'
  | 'closed_at'
  | 'accuracy'
  | 'loss'
  | 'model_hash_before'
  | 'model_hash_after'
  | 'note'
  | 'epsilon'
> & {
  proofs_verified: number;
  proofs_rejected: number;
  rejections_unlisted: number;
  sampled: number;
  answered: number;
  verify_seconds: number;
};

export class RoundTable {
  constructor(
    private readonly store: StoreContext,
    private readonly members: RoundMembers,
  ) {}

  async get(taskId: string, round: number): Promise<RoundView | undefined> {
    const row = await this.store.db
      .selectFrom('rounds')
      .select(viewColumns)
      .where('task_id', '=', taskId)
      .where('round', '=', round)
      .executeTakeFirst();
    return row && this.toView(taskId, row);
  }

  /** A round's phase alone (no participants read), or undefined for a round the task has not reached. */
  async phase(taskId: string, round: number): Promise<RoundPhase | undefined> {
    const row = await this.store.db
      .selectFrom('rounds')
      .select('phase')
      .where('task_id', '=', taskId)
      .where('round', '=', round)
      .executeTakeFirst();
    return row?.phase;
  }

  async list(taskId: string): Promise<RoundView[]> {
    const rows = await this.store.db
      .selectFrom('rounds')
      .select(viewColumns)
      .where('task_id', '=', taskId)
      .orderBy('round')
      .execute();
    return Promise.all(rows.map((row) => this.toView(taskId, row)));
  }

  private async toView(taskId: string, row: RoundRow): Promise<RoundView> {
    const [participants, rejected] = await Promise.all([
      this.members.accepted(taskId, row.round),
      this.members.rejections(taskId, row.round),
    ]);
    return {
      round: row.round,
      phase: row.phase,
      attempts: row.attempts,
      openedAt: row.opened_at,
      closedAt: row.closed_at,
      accuracy: row.accuracy,
      loss: row.loss,
      participants,
      rejected,
      rejectedUnlisted: row.rejections_unlisted,
      sampled: row.sampled,
      answered: row.answered,
      // Until the round closes, a sampled client that has not answered may still do so.
      dropped: row.closed_at === null ? null : row.sampled - row.answered,
      proofsVerified: row.proofs_verified,
      proofsRejected: row.proofs_rejected,
      verifySeconds: row.verify_seconds,
      modelHashBefore: row.model_hash_before,
      modelHashAfter: row.model_hash_after,
      note: row.note,
      epsilon: row.epsilon,
    };
  }

  /** The ε a private task spent: its last released round's (ε only grows); 0 before any. */
  async epsilonSpent(taskId: string): Promise<number> {
    const row = await this.store.db
      .selectFrom('rounds')
      .select((eb) => eb.fn.max('epsilon').as('spent'))
      .where('task_id', '=', taskId)
      .executeTakeFirst();
    return Number(row?.spent ?? 0);
  }

  /** The signed records of the task's finished rounds, in order. */
  async records(taskId: string): Promise<SignedRoundRecord[]> {
    const rows = await this.store.db
      .selectFrom('rounds')
      .select(['record', 'record_signature as signature'])
      .where('task_id', '=', taskId)
      .where('record', 'is not', null)
      .orderBy('round')
      .execute();
    return rows.map((row) => ({ record: JSON.parse(row.record!) as RoundRecord, signature: row.signature! }));
  }

  /**
   * One finished round's signed record as `{"record": …, "signature": …}` JSON text, the record as it was stored
   * (undefined past the last finished round): what the audit bundle streams, a round at a time.
   */
  async recordJson(taskId: string, round: number): Promise<string | undefined> {
    const row = await this.store.db
      .selectFrom('rounds')
      .select(['record', 'record_signature as signature'])
      .where('task_id', '=', taskId)
      .where('round', '=', round)
      .where('record', 'is not', null)
      .executeTakeFirst();
    return row && `{"record":${row.record!},"signature":${JSON.stringify(row.signature)}}`;
  }

  async setPhase(taskId: string, round: number, phase: RoundPhase, attempts?: number): Promise<void> {
    await this.store.write((trx) =>
      trx
        .updateTable('rounds')
        .set({ phase, ...(attempts === undefined ? {} : { attempts }) })
        .where('task_id', '=', taskId)
        .where('round', '=', round)
        .execute(),
    );
  }

  /** Adds to a round's counts outside an update's record (clients sampled). */
  addCounts(taskId: string, round: number, counts: RoundCounts): Promise<void> {
    return this.store.write((trx) => addCounts(trx, taskId, round, counts));
  }

  /**
   * Adds to a private round's sampling: holders it could sample, and holders it asked (one asked stays asked). In
   * statements of at most `rowsPerInsert` rows, within SQLite's and PostgreSQL's limits on a statement's parameters
   * however many hold.
   */
  async addSampling(taskId: string, round: number, { eligible, asked }: RoundSampling): Promise<void> {
    const isAsked = new Set(asked);
    const rows = [...new Set([...eligible, ...asked])].map((address) => ({
      task_id: taskId,
      round,
      address,
      asked: isAsked.has(address) ? 1 : 0,
    }));
    await this.store.write(async (trx) => {
      for (let start = 0; start < rows.length; start += rowsPerInsert) {
        await trx
          .insertInto('round_members')
          .values(rows.slice(start, start + rowsPerInsert))
          .onConflict((conflict) =>
            conflict.columns(['task_id', 'round', 'address']).doUpdateSet({ asked: 1 }).where('excluded.asked', '=', 1),
          )
          .execute();
      }
    });
  }

  /** A private round's sampling as stored (empty once the round closed). */
  async sampling(taskId: string, round: number): Promise<RoundSampling> {
    const rows = await this.store.db
      .selectFrom('round_members')
      .select(['address', 'asked'])
      .where('task_id', '=', taskId)
      .where('round', '=', round)
      .orderBy('address')
      .execute();
    return {
      eligible: rows.map((row) => row.address),
      asked: rows.filter((row) => row.asked === 1).map((row) => row.address),
    };
  }

  /** Notes what a round waits for, or why it ended as it did (null: nothing out of its usual course). */
  async note(taskId: string, round: number, note: string | null): Promise<void> {
    await this.store.write((trx) =>
      trx.updateTable('rounds').set({ note }).where('task_id', '=', taskId).where('round', '=', round).execute(),
    );
  }

  /**
   * Closes a round in one transaction: its metrics and resulting model hash, the task's next round (or its
   * completion), dropping the running sum and the sampling it no longer needs.
   */
  async finish(taskId: string, round: number, result: RoundResult): Promise<void> {
    await this.store.write(async (trx) => {
      await trx
        .updateTable('rounds')
        .set({
          phase: 'evaluated',
          closed_at: now(),
          accuracy: result.accuracy,
          loss: result.loss,
          model_hash_after: result.modelHashAfter,
          record: JSON.stringify(result.signed.record),
          record_signature: result.signed.signature,
          epsilon: result.signed.record.privacy?.epsilon ?? null,
        })
        .where('task_id', '=', taskId)
        .where('round', '=', round)
        .execute();
      // Its record keeps what these were for: the sum is in the model, the sampling in the record's privacy.
      for (const table of ['running_sums', 'round_members'] as const) {
        await trx.deleteFrom(table).where('task_id', '=', taskId).where('round', '=', round).execute();
      }
      const task = trx.updateTable('tasks').where('id', '=', taskId);
      if (result.last) {
        await task.set({ status: 'completed', model_hash: result.modelHashAfter }).execute();
      } else {
        await task.set({ current_round: round + 1, model_hash: result.modelHashAfter }).execute();
        await insertRound(trx, taskId, round + 1, result.modelHashAfter);
      }
    });
  }
}

export async function insertRound(
  trx: Transaction<Tables>,
  taskId: string,
  round: number,
  modelHash: string,
  openedAt = now(),
): Promise<void> {
  await trx
    .insertInto('rounds')
    .values({ task_id: taskId, round, phase: 'open', attempts: 0, opened_at: openedAt, model_hash_before: modelHash })
    .execute();
}

export async function addCounts(
  trx: Transaction<Tables>,
  taskId: string,
  round: number,
  counts: RoundCounts,
): Promise<void> {
  const columns = {
    sampled: counts.sampled,
    answered: counts.answered,
    proofs_verified: counts.proofsVerified,
    proofs_rejected: counts.proofsRejected,
    verify_seconds: counts.verifySeconds,
  };
  const added = Object.entries(columns).filter((entry): entry is [keyof typeof columns, number] => !!entry[1]);
  if (added.length === 0) return;
  await trx
    .updateTable('rounds')
    .set((eb) => Object.fromEntries(added.map(([column, value]) => [column, eb(column, '+', value)])))
    .where('task_id', '=', taskId)
    .where('round', '=', round)
    .execute();
}
