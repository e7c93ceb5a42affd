/**
 * What arrives in a round: accepted updates (with their evidence, scores and the running sum that includes them)
 * and rejections (listed up to a bound, counted beyond it).
 */
import type { ErrorCode } from '../../common/errors.js';
import type { ParticipantView, RejectionView } from '../../protocol/rest.js';
import type { AuditedUpdate } from '../../protocol/audit.js';
import type { Scored } from '../../protocol/reward-rule.js';
import { sameUpdate, type SentUpdate, type UpdatePayload } from '../../protocol/events.js';
import { RunningSum } from '../../ml/aggregation.js';
import { alignedBuffer } from '../../common/bytes.js';
import { addCounts, type RoundCounts } from './round-table.js';
import { bytes, now, type StoreContext } from './store.js';

/** An accepted update as stored: what a round shows of it. */
export type AcceptedUpdate = ParticipantView;

/** An accepted update's values, as the round's scoring needs them. */
export interface StoredUpdate {
  address: string;
  numSamples: number;
  q: Uint8Array;
  fractionBits: number[];
}

/** What the audit record and the scoring of an accepted update need beyond AcceptedUpdate. */
export interface UpdateEvidence {
  fractionBits: number[];
  proofs: AuditedUpdate['proofs'];
  salt?: string;
  /** Kept for scoring; published only for publicAudit tasks. */
  q: Uint8Array;
}

/**
 * How many rejections a round lists, per address and in all; the rest are only counted, so that keys that cost
 * nothing cannot grow a round's signed record without bound.
 */
export interface RejectionLimits {
  perAddress: number;
  perRound: number;
}

export const defaultRejectionLimits: RejectionLimits = { perAddress: 3, perRound: 100 };

export class UpdateTable {
  constructor(
    private readonly store: StoreContext,
    private readonly rejectionLimits: RejectionLimits,
  ) {}

  /** A round's accepted updates, in the order they were accepted (the order they are summed in). */
  private roundUpdates(taskId: string, round: number) {
    return this.store.db
      .selectFrom('updates')
      .where('task_id', '=', taskId)
      .where('round', '=', round)
      .orderBy('position');
  }

  accepted(taskId: string, round: number): Promise<AcceptedUpdate[]> {
    return this.roundUpdates(taskId, round)
      .select(['address', 'num_samples as numSamples', 'train_loss as trainLoss', 'commitment', 'score', 'amount'])
      .execute();
  }

  /** The accepted updates of a round, in the order they were accepted, with their values. */
  async stored(taskId: string, round: number): Promise<StoredUpdate[]> {
    const rows = await this.roundUpdates(taskId, round)
      .select(['address', 'num_samples as numSamples', 'q', 'fraction_bits as fractionBits'])
      .execute();
    return rows.map((row) => ({ ...row, fractionBits: JSON.parse(row.fractionBits) as number[] }));
  }

  /**
   * Whether `update` is, byte for byte, what `address` had accepted in a round (the same update sent again after its
   * answer was lost); if so, its commitment.
   */
  async sameAsAccepted(
    taskId: string,
    round: number,
    address: string,
    update: SentUpdate,
  ): Promise<{ commitment: string | null } | undefined> {
    const row = await this.roundUpdates(taskId, round)
      .where('address', '=', address)
      .select(['commitment', 'num_samples', 'q', 'fraction_bits', 'proofs', 'salt'])
      .executeTakeFirst();
    if (!row) return undefined;
    const stored: SentUpdate = {
      numSamples: row.num_samples,
      q: row.q,
      fractionBits: JSON.parse(row.fraction_bits) as number[],
      proofs: row.proofs === null ? [] : (JSON.parse(row.proofs) as UpdatePayload['proofs']),
      ...(row.salt === null ? {} : { salt: row.salt }),
    };
    return sameUpdate(stored, update) ? { commitment: row.commitment } : undefined;
  }

  /** Records each accepted update's score and amount (by address) once the round is scored. */
  async setScores(
    taskId: string,
    round: number,
    scored: Array<{ address: string; score: number; amount: string }>,
  ): Promise<void> {
    await this.store.write(async (trx) => {
      for (const { address, score, amount } of scored) {
        await trx
          .updateTable('updates')
          .set({ score, amount })
          .where('task_id', '=', taskId)
          .where('round', '=', round)
          .where('address', '=', address)
          .execute();
      }
    });
  }

  /**
   * The recorded scores of rounds 1 … before − 1 (a list per round, in acceptance order; empty for a round that
   * accepted nothing), read in one query: what a reward rule that follows value over the task pays from.
   */
  async scoresBefore(taskId: string, before: number): Promise<Scored[][]> {
    const rows = await this.store.db
      .selectFrom('updates')
      .where('task_id', '=', taskId)
      .where('round', '<', before)
      .orderBy('round')
      .orderBy('position')
      .select(['round', 'address', 'score'])
      .execute();
    const rounds = Array.from({ length: Math.max(0, before - 1) }, (): Scored[] => []);
    for (const { round, address, score } of rows) rounds[round - 1]!.push({ address, score: score! });
    return rounds;
  }

  /** The accepted updates of a round with their proofs and scores (and with `publish`, q and salt), for its record. */
  async audited(taskId: string, round: number, publish: boolean): Promise<AuditedUpdate[]> {
    const rows = await this.roundUpdates(taskId, round)
      .select([
        'address',
        'num_samples as numSamples',
        'commitment',
        'fraction_bits as fractionBits',
        'proofs',
        'salt',
        'q',
        'score',
        'amount',
      ])
      .execute();
    return rows.map((row) => ({
      address: row.address,
      numSamples: row.numSamples,
      commitment: row.commitment ?? '',
      fractionBits: JSON.parse(row.fractionBits) as number[],
      proofs: row.proofs ? (JSON.parse(row.proofs) as AuditedUpdate['proofs']) : [],
      score: row.score ?? 0,
      amount: row.amount ?? '0',
      ...(publish ? { update: { q: row.q.toString('base64'), salt: row.salt ?? '' } } : {}),
    }));
  }

  /** The rejections a round lists, in the order they came. */
  rejections(taskId: string, round: number): Promise<RejectionView[]> {
    return this.store.db
      .selectFrom('rejections')
      .select(['address', 'code', 'reason', 'at'])
      .where('task_id', '=', taskId)
      .where('round', '=', round)
      .orderBy('id')
      .execute() as Promise<RejectionView[]>;
  }

  /** Records an accepted update, the round's counts it adds to and the running sum that now includes it, atomically. */
  async recordAccepted(
    taskId: string,
    round: number,
    update: AcceptedUpdate & UpdateEvidence,
    sum: RunningSum,
    counts: RoundCounts,
  ): Promise<void> {
    await this.store.write(async (trx) => {
      await addCounts(trx, taskId, round, counts);
      const { count } = await trx
        .selectFrom('updates')
        .select((eb) => eb.fn.countAll().as('count'))
        .where('task_id', '=', taskId)
        .where('round', '=', round)
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('updates')
        .values({
          task_id: taskId,
          round,
          address: update.address,
          position: Number(count) + 1,
          num_samples: update.numSamples,
          train_loss: update.trainLoss,
          received_at: now(),
          commitment: update.commitment,
          proofs: JSON.stringify(update.proofs),
          salt: update.salt ?? null,
          q: bytes(update.q),
          fraction_bits: JSON.stringify(update.fractionBits),
          score: null,
          amount: null,
        })
        .execute();
      const values = { sum: bytes(sum.sum), total_weight: sum.totalWeight, count: sum.count };
      await trx
        .insertInto('running_sums')
        .values({ task_id: taskId, round, ...values })
        .onConflict((conflict) => conflict.columns(['task_id', 'round']).doUpdateSet(values))
        .execute();
    });
  }

  async recordRejected(
    taskId: string,
    round: number,
    rejection: { address: string; code: ErrorCode; reason: string },
    counts: RoundCounts,
  ): Promise<void> {
    await this.store.write(async (trx) => {
      await addCounts(trx, taskId, round, counts);
      const listed = trx
        .selectFrom('rejections')
        .select((eb) => eb.fn.countAll().as('count'))
        .where('task_id', '=', taskId)
        .where('round', '=', round);
      const [all, mine] = await Promise.all([
        listed.executeTakeFirstOrThrow(),
        listed.where('address', '=', rejection.address).executeTakeFirstOrThrow(),
      ]);
      if (Number(mine.count) >= this.rejectionLimits.perAddress || Number(all.count) >= this.rejectionLimits.perRound) {
        await trx
          .updateTable('rounds')
          .set((eb) => ({ rejections_unlisted: eb('rejections_unlisted', '+', 1) }))
          .where('task_id', '=', taskId)
          .where('round', '=', round)
          .execute();
        return;
      }
      await trx
        .insertInto('rejections')
        .values({
          task_id: taskId,
          round,
          address: rejection.address,
          code: rejection.code,
          reason: rejection.reason,
          at: now(),
        })
        .execute();
    });
  }

  /** The running sum of a round's accepted updates (empty before the first). */
  async runningSum(taskId: string, round: number, size: number): Promise<RunningSum> {
    const row = await this.store.db
      .selectFrom('running_sums')
      .select(['sum', 'total_weight as totalWeight', 'count'])
      .where('task_id', '=', taskId)
      .where('round', '=', round)
      .executeTakeFirst();
    if (!row) return RunningSum.empty(size);
    return new RunningSum(new Float64Array(alignedBuffer(row.sum)), row.totalWeight, row.count);
  }
}
