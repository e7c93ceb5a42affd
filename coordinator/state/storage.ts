/**
 * Durable state: tasks, rounds, accepted updates, rejections, consents, the chain actions owed and each open
 * round's running sum, in SQLite or PostgreSQL (coordinator/state/database.ts). An update is acknowledged only after the
 * transaction that records it and the new running sum commits, so a coordinator killed at any moment restarts with
 * every accepted update and every finished round. Model checkpoints live beside the database as files (see
 * checkpoints.ts).
 */
import type { Transaction } from 'kysely';
import type { RoundPhase, TaskStatus } from '../../protocol/states.js';
import type { ErrorCode } from '../../common/errors.js';
import type { ParticipantView, RejectionView, RoundView, TaskView, ZkView } from '../../protocol/rest.js';
import type { TaskSpec } from '../../protocol/task-spec.js';
import type { AuditedUpdate, RoundRecord, SignedRoundRecord } from '../../protocol/audit.js';
import type { Consent } from '../../protocol/terms.js';
import { sameUpdate, type SentUpdate, type UpdatePayload } from '../../protocol/events.js';
import { taskKey as taskKeyOf } from '../../circuits/statement.js';
import { RunningSum } from '../../ml/aggregation.js';
import { alignedBuffer } from '../../common/bytes.js';
import { type Db, openDatabase, serverAway, type Tables } from './database.js';
import { createLogger } from '../../common/log.js';

const log = createLogger('database');

/** An accepted update as stored: what a round shows of it. */
export type AcceptedUpdate = ParticipantView;

/** An accepted update's values, as the round's scoring needs them. */
export interface StoredUpdate {
  address: string;
  numSamples: number;
  q: Uint8Array;
  fractionBits: number[];
}

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

/** What the audit record and the scoring of an accepted update need beyond AcceptedUpdate. */
export interface UpdateEvidence {
  fractionBits: number[];
  proofs: AuditedUpdate['proofs'];
  salt?: string;
  /** Kept for scoring; published only for publicAudit tasks. */
  q: Uint8Array;
}

export interface RoundResult {
  accuracy: number;
  loss: number;
  modelHashAfter: string;
  /** True when this was the task's last round. */
  last: boolean;
  /** The round's record, signed by the coordinator. */
  signed: SignedRoundRecord;
}

const now = (): string => new Date().toISOString();

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

/** An accepted update as its sender's history lists it. */
interface HolderUpdate {
  taskId: string;
  round: number;
  commitment: string | null;
  score: number | null;
  amount: string | null;
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
> & {
  proofs_verified: number;
  proofs_rejected: number;
  rejections_unlisted: number;
  sampled: number;
  answered: number;
  verify_seconds: number;
};

/** What a round counts as it trains; each write adds to the stored counts. */
export interface RoundCounts {
  sampled?: number;
  answered?: number;
  proofsVerified?: number;
  proofsRejected?: number;
  verifySeconds?: number;
}

const bytes = (view: ArrayBufferView): Buffer => Buffer.from(view.buffer, view.byteOffset, view.byteLength);

/**
 * The lease a write is made under: it commits only while `holder` still holds `name`, so an instance that lost a
 * task to another (it stalled past its lease) cannot write into the round the other now runs.
 */
export interface Fence {
  name: string;
  holder: string;
}

export class LeaseLost extends Error {}

export class Storage {
  private constructor(
    private readonly db: Db,
    private readonly rejectionLimits: RejectionLimits,
    /** Several coordinator instances may share this database (PostgreSQL): tasks run under leases. */
    readonly shared: boolean,
    /** The lease a task runner's writes are made under (see `fenced`). */
    private readonly fence?: Fence,
  ) {}

  /** Opens (and migrates) the database at `location`: a PostgreSQL URL or a SQLite file's path. */
  static async open(location: string, rejectionLimits = defaultRejectionLimits): Promise<Storage> {
    const { db, engine } = await openDatabase(location);
    const storage = new Storage(db, rejectionLimits, engine === 'postgres');
    return engine === 'postgres' ? retryingWhileAway(storage) : storage;
  }

  /**
   * This storage with the writes a task runner makes (its round's phase, counts, updates, rejections, scores and
   * results, its task's end) committed only while `fence.holder` holds `fence.name`; LeaseLost otherwise.
   */
  fenced(fence: Fence): Storage {
    const storage = new Storage(this.db, this.rejectionLimits, this.shared, fence);
    return this.shared ? retryingWhileAway(storage) : storage;
  }

  /** A transaction that commits only under the fence, if this storage has one. */
  private write<T>(work: (trx: Transaction<Tables>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      await checkFence(trx, this.fence, this.shared);
      return work(trx);
    });
  }

  /**
   * Takes or renews the lease `name` for `holder` until `ttlMs` from now; true when `holder` has it. A lease is
   * taken from another holder only once it expired.
   */
  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
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

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }

  /** Who holds the lease `name` now, if anyone. */
  async leaseHolder(name: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('leases')
      .select('holder')
      .where('name', '=', name)
      .where('expires_at', '>=', Date.now())
      .executeTakeFirst();
    return row?.holder;
  }

  close(): Promise<void> {
    return this.db.destroy();
  }

  async createTask(task: {
    id: string;
    spec: TaskSpec;
    zk: ZkView;
    numParams: number;
    modelHash: string;
  }): Promise<void> {
    const createdAt = now();
    await this.db.transaction().execute(async (trx) => {
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

  async getTask(id: string): Promise<TaskView | undefined> {
    const row = await this.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toTaskView(row);
  }

  async listTasks(status?: TaskStatus): Promise<TaskView[]> {
    let query = this.db.selectFrom('tasks').selectAll().orderBy('created_at').orderBy('id');
    if (status) query = query.where('status', '=', status);
    return (await query.execute()).map(toTaskView);
  }

  async setPhase(taskId: string, round: number, phase: RoundPhase, attempts?: number): Promise<void> {
    await this.write((trx) =>
      trx
        .updateTable('rounds')
        .set({ phase, ...(attempts === undefined ? {} : { attempts }) })
        .where('task_id', '=', taskId)
        .where('round', '=', round)
        .execute(),
    );
  }

  async getRound(taskId: string, round: number): Promise<RoundView | undefined> {
    const row = await this.db
      .selectFrom('rounds')
      .selectAll()
      .where('task_id', '=', taskId)
      .where('round', '=', round)
      .executeTakeFirst();
    return row && this.toRoundView(taskId, row);
  }

  async listRounds(taskId: string): Promise<RoundView[]> {
    const rows = await this.db
      .selectFrom('rounds')
      .selectAll()
      .where('task_id', '=', taskId)
      .orderBy('round')
      .execute();
    return Promise.all(rows.map((row) => this.toRoundView(taskId, row)));
  }

  private async toRoundView(taskId: string, row: RoundRow): Promise<RoundView> {
    const [participants, rejected] = await Promise.all([
      this.acceptedUpdates(taskId, row.round),
      this.rejections(taskId, row.round),
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
    };
  }

  /** A round's accepted updates, in the order they were accepted (the order they are summed in). */
  private roundUpdates(taskId: string, round: number) {
    return this.db.selectFrom('updates').where('task_id', '=', taskId).where('round', '=', round).orderBy('position');
  }

  acceptedUpdates(taskId: string, round: number): Promise<AcceptedUpdate[]> {
    return this.roundUpdates(taskId, round)
      .select(['address', 'num_samples as numSamples', 'train_loss as trainLoss', 'commitment', 'score', 'amount'])
      .execute();
  }

  /** The accepted updates of a round, in the order they were accepted, with their values. */
  async storedUpdates(taskId: string, round: number): Promise<StoredUpdate[]> {
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
    await this.write(async (trx) => {
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

  /** The accepted updates of a round with their proofs and scores (and with `publish`, q and salt), for its record. */
  async auditedUpdates(taskId: string, round: number, publish: boolean): Promise<AuditedUpdate[]> {
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
  async holderActivity(address: string): Promise<{
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

  /** The signed records of the task's finished rounds, in order. */
  async roundRecords(taskId: string): Promise<SignedRoundRecord[]> {
    const rows = await this.db
      .selectFrom('rounds')
      .select(['record', 'record_signature as signature'])
      .where('task_id', '=', taskId)
      .where('record', 'is not', null)
      .orderBy('round')
      .execute();
    return rows.map((row) => ({ record: JSON.parse(row.record!) as RoundRecord, signature: row.signature! }));
  }

  private rejections(taskId: string, round: number): Promise<RejectionView[]> {
    return this.db
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
    await this.write(async (trx) => {
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
    await this.write(async (trx) => {
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

  /** Adds to a round's counts outside an update's record (clients sampled). */
  addRoundCounts(taskId: string, round: number, counts: RoundCounts): Promise<void> {
    return this.write((trx) => addCounts(trx, taskId, round, counts));
  }

  async loadRunningSum(taskId: string, round: number, size: number): Promise<RunningSum> {
    const row = await this.db
      .selectFrom('running_sums')
      .select(['sum', 'total_weight as totalWeight', 'count'])
      .where('task_id', '=', taskId)
      .where('round', '=', round)
      .executeTakeFirst();
    if (!row) return RunningSum.empty(size);
    return new RunningSum(new Float64Array(alignedBuffer(row.sum)), row.totalWeight, row.count);
  }

  /**
   * Closes a round in one transaction: its metrics and resulting model hash, the task's next round (or its
   * completion), and the running sum it no longer needs.
   */
  async finishRound(taskId: string, round: number, result: RoundResult): Promise<void> {
    await this.write(async (trx) => {
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
        })
        .where('task_id', '=', taskId)
        .where('round', '=', round)
        .execute();
      await trx.deleteFrom('running_sums').where('task_id', '=', taskId).where('round', '=', round).execute();
      const task = trx.updateTable('tasks').where('id', '=', taskId);
      if (result.last) {
        await task.set({ status: 'completed', model_hash: result.modelHashAfter }).execute();
      } else {
        await task.set({ current_round: round + 1, model_hash: result.modelHashAfter }).execute();
        await insertRound(trx, taskId, round + 1, result.modelHashAfter);
      }
    });
  }

  /** Adds an action unless the same (task, round, kind, subject) is known: deriving actions again is harmless. */
  async addChainAction(
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
  pendingChainActions(): Promise<ChainAction[]> {
    return this.chainActionsWhere('status', 'pending');
  }

  /** Every action of a task, in the order they were derived (a settlement timeline). */
  chainActions(taskId: string): Promise<ChainAction[]> {
    return this.chainActionsWhere('task_id', taskId);
  }

  private async chainActionsWhere(column: 'status' | 'task_id', value: string): Promise<ChainAction[]> {
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

  async updateChainAction(
    action: Pick<ChainAction, 'taskId' | 'round' | 'kind' | 'subject'>,
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

  /** Ends a task that did not complete, saying why. */
  async endTask(taskId: string, status: 'failed' | 'cancelled', reason: string): Promise<void> {
    await this.write((trx) => trx.updateTable('tasks').set({ status, reason }).where('id', '=', taskId).execute());
  }

  /** Records that `owner` uploaded (or a new task of theirs uses) the evaluation set `id`, now. */
  async touchUpload(id: string, owner: string, bytes: number): Promise<void> {
    const values = { bytes, used_at: Date.now() };
    await this.db
      .insertInto('uploads')
      .values({ id, owner, ...values })
      .onConflict((conflict) => conflict.columns(['id', 'owner']).doUpdateSet(values))
      .execute();
  }

  /** The bytes of `owner`'s upload `id`, or undefined when it is not theirs (or expired). */
  async uploadBytes(id: string, owner: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('uploads')
      .select('bytes')
      .where('id', '=', id)
      .where('owner', '=', owner)
      .executeTakeFirst();
    return row?.bytes;
  }

  /** The bytes of all `owner`'s uploads, other than `except`: what counts against their quota. */
  async ownerUploadBytes(owner: string, except: string): Promise<number> {
    const row = await this.db
      .selectFrom('uploads')
      .select((eb) => eb.fn.sum<number | string | null>('bytes').as('total'))
      .where('owner', '=', owner)
      .where('id', '!=', except)
      .executeTakeFirst();
    return Number(row?.total ?? 0);
  }

  /** Uploads neither uploaded nor used by a new task since `before` (ms). */
  staleUploads(before: number): Promise<Array<{ id: string; owner: string }>> {
    return this.db.selectFrom('uploads').select(['id', 'owner']).where('used_at', '<', before).execute();
  }

  /** Forgets `owner`'s upload `id` (its files go once nobody holds it: EvaluationData.sweep). */
  async removeUpload(id: string, owner: string): Promise<void> {
    await this.db.deleteFrom('uploads').where('id', '=', id).where('owner', '=', owner).execute();
  }

  /** Every upload id somebody holds. */
  async heldUploads(): Promise<Set<string>> {
    const rows = await this.db.selectFrom('uploads').select('id').distinct().execute();
    return new Set(rows.map((row) => row.id));
  }

  /** Notes what a round waits for, or why it ended as it did (null: nothing out of its usual course). */
  async noteRound(taskId: string, round: number, note: string | null): Promise<void> {
    await this.write((trx) =>
      trx.updateTable('rounds').set({ note }).where('task_id', '=', taskId).where('round', '=', round).execute(),
    );
  }
}

/**
 * Throws LeaseLost unless the fence's holder still holds its lease. On PostgreSQL the lease row stays locked until
 * the transaction ends, so no other instance takes the lease between this check and the commit; a lease that ran
 * out but that nobody took yet is still the holder's (what it writes, a taker reads).
 */
async function checkFence(trx: Transaction<Tables>, fence: Fence | undefined, rowLocks: boolean): Promise<void> {
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

/**
 * The storage with every call retried while the PostgreSQL server is away (a restart): a transaction cut off by
 * it was rolled back, so running it again is safe. Other errors, and an outage past a minute, are thrown.
 */
function retryingWhileAway(storage: Storage): Storage {
  return new Proxy(storage, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (typeof value !== 'function' || name === 'close' || name === 'fenced') return value;
      const method = value as (...args: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]): Promise<unknown> => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await method.apply(target, args);
          } catch (error) {
            if (!serverAway(error) || attempt >= 120) throw error;
            if (attempt === 1) log.warn(`database call cut off, retrying: ${String(name)}`);
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
      };
    },
  });
}

async function insertRound(
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

async function addCounts(trx: Transaction<Tables>, taskId: string, round: number, counts: RoundCounts): Promise<void> {
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
