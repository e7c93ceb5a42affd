/**
 * Durable state in SQLite: tasks, rounds, accepted updates, rejections and each open round's running sum.
 * An update is acknowledged only after the transaction that records it and the new running sum commits, so a
 * coordinator killed at any moment restarts with every accepted update and every finished round.
 * Model checkpoints live beside the database as files (see checkpoints.ts).
 */
import Database from 'better-sqlite3';
import type { RoundPhase, TaskStatus } from '../protocol/events.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { ParticipantView, RejectionView, RoundView, TaskView, ZkView } from '../protocol/rest.js';
import type { TaskSpec } from '../protocol/task-spec.js';
import type { AuditedUpdate, RoundRecord, SignedRoundRecord } from '../protocol/audit.js';
import type { Consent } from '../protocol/terms.js';
import { taskKey as taskKeyOf } from '../circuits/statement.js';
import { RunningSum } from '../ml/aggregation.js';
import { alignedBuffer } from '../common/bytes.js';

const schema = `
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, spec TEXT NOT NULL, zk TEXT NOT NULL, status TEXT NOT NULL, current_round INTEGER NOT NULL,
  num_params INTEGER NOT NULL, model_hash TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
  task_id TEXT NOT NULL, round INTEGER NOT NULL, phase TEXT NOT NULL, attempts INTEGER NOT NULL,
  opened_at TEXT NOT NULL, closed_at TEXT, accuracy REAL, loss REAL,
  proofs_verified INTEGER NOT NULL DEFAULT 0, proofs_rejected INTEGER NOT NULL DEFAULT 0,
  rejections_unlisted INTEGER NOT NULL DEFAULT 0,
  model_hash_before TEXT NOT NULL, model_hash_after TEXT, record TEXT, record_signature TEXT,
  PRIMARY KEY (task_id, round));
CREATE TABLE IF NOT EXISTS updates (
  task_id TEXT NOT NULL, round INTEGER NOT NULL, address TEXT NOT NULL, num_samples INTEGER NOT NULL,
  train_loss REAL, received_at TEXT NOT NULL, commitment TEXT, proofs TEXT, salt TEXT, q BLOB,
  fraction_bits TEXT NOT NULL DEFAULT '[]', score REAL, amount TEXT, PRIMARY KEY (task_id, round, address));
CREATE TABLE IF NOT EXISTS consents (
  task_id TEXT NOT NULL, address TEXT NOT NULL, terms_hash TEXT NOT NULL, signature TEXT NOT NULL, at TEXT NOT NULL,
  PRIMARY KEY (task_id, address));
CREATE TABLE IF NOT EXISTS rejections (
  id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, round INTEGER NOT NULL, address TEXT NOT NULL,
  code TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rejections_by_round ON rejections (task_id, round);
CREATE INDEX IF NOT EXISTS updates_by_address ON updates (address);
CREATE INDEX IF NOT EXISTS consents_by_address ON consents (address);
CREATE INDEX IF NOT EXISTS rejections_by_address ON rejections (address);
CREATE TABLE IF NOT EXISTS chain_actions (
  task_id TEXT NOT NULL, round INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL DEFAULT '',
  args TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', raw_tx TEXT, tx_hash TEXT,
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, PRIMARY KEY (task_id, round, kind, subject));
CREATE TABLE IF NOT EXISTS running_sums (
  task_id TEXT NOT NULL, round INTEGER NOT NULL, sum BLOB NOT NULL, total_weight REAL NOT NULL,
  count INTEGER NOT NULL, PRIMARY KEY (task_id, round));
`;

interface TaskRow {
  id: string;
  spec: string;
  zk: string;
  status: TaskStatus;
  current_round: number;
  num_params: number;
  model_hash: string;
  created_at: string;
}

interface RoundRow {
  round: number;
  phase: RoundPhase;
  attempts: number;
  opened_at: string;
  closed_at: string | null;
  accuracy: number | null;
  loss: number | null;
  proofs_verified: number;
  proofs_rejected: number;
  rejections_unlisted: number;
  model_hash_before: string;
  model_hash_after: string | null;
}

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

function toTaskView(row: TaskRow): TaskView {
  return {
    id: row.id,
    spec: JSON.parse(row.spec) as TaskSpec,
    zk: JSON.parse(row.zk) as ZkView,
    status: row.status,
    currentRound: row.current_round,
    numParams: row.num_params,
    modelHash: row.model_hash,
    createdAt: row.created_at,
  };
}

/**
 * How many rejections a round lists, per address and in all; the rest are only counted, so that keys that cost
 * nothing cannot grow a round's signed record without bound.
 */
/** An accepted update as its sender's history lists it. */
interface HolderUpdate {
  taskId: string;
  round: number;
  commitment: string | null;
  score: number | null;
  amount: string | null;
}

export interface RejectionLimits {
  perAddress: number;
  perRound: number;
}

export const defaultRejectionLimits: RejectionLimits = { perAddress: 3, perRound: 100 };

export class Storage {
  private readonly db: Database.Database;

  constructor(
    path: string,
    private readonly rejectionLimits: RejectionLimits = defaultRejectionLimits,
  ) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: a commit reaches the disk before the client is told its update was accepted.
    this.db.pragma('synchronous = FULL');
    this.db.exec(schema);
    // A data directory from before rejections were bounded.
    const columns = this.db.prepare('PRAGMA table_info(rounds)').all() as Array<{ name: string }>;
    if (!columns.some((column) => column.name === 'rejections_unlisted')) {
      this.db.exec('ALTER TABLE rounds ADD COLUMN rejections_unlisted INTEGER NOT NULL DEFAULT 0');
    }
  }

  close(): void {
    this.db.close();
  }

  createTask(task: { id: string; spec: TaskSpec; zk: ZkView; numParams: number; modelHash: string }): void {
    const createdAt = now();
    this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO tasks VALUES (?, ?, ?, ?, 1, ?, ?, ?)')
        .run(
          task.id,
          JSON.stringify(task.spec),
          JSON.stringify(task.zk),
          'running',
          task.numParams,
          task.modelHash,
          createdAt,
        );
      this.insertRound(task.id, 1, task.modelHash, createdAt);
    })();
  }

  private insertRound(taskId: string, round: number, modelHash: string, openedAt = now()): void {
    this.db
      .prepare(
        `INSERT INTO rounds (task_id, round, phase, attempts, opened_at, model_hash_before) VALUES (?, ?, 'open', 0, ?, ?)`,
      )
      .run(taskId, round, openedAt, modelHash);
  }

  getTask(id: string): TaskView | undefined {
    const row = this.db.prepare('SELECT * FROM tasks WHERE id = ?').get(id) as TaskRow | undefined;
    return row && toTaskView(row);
  }

  listTasks(status?: TaskStatus): TaskView[] {
    const rows = (
      status
        ? this.db.prepare('SELECT * FROM tasks WHERE status = ? ORDER BY created_at').all(status)
        : this.db.prepare('SELECT * FROM tasks ORDER BY created_at').all()
    ) as TaskRow[];
    return rows.map(toTaskView);
  }

  setPhase(taskId: string, round: number, phase: RoundPhase, attempts?: number): void {
    this.db
      .prepare('UPDATE rounds SET phase = ?, attempts = COALESCE(?, attempts) WHERE task_id = ? AND round = ?')
      .run(phase, attempts ?? null, taskId, round);
  }

  getRound(taskId: string, round: number): RoundView | undefined {
    const row = this.db.prepare('SELECT * FROM rounds WHERE task_id = ? AND round = ?').get(taskId, round) as
      RoundRow | undefined;
    return row && this.toRoundView(taskId, row);
  }

  listRounds(taskId: string): RoundView[] {
    const rows = this.db.prepare('SELECT * FROM rounds WHERE task_id = ? ORDER BY round').all(taskId) as RoundRow[];
    return rows.map((row) => this.toRoundView(taskId, row));
  }

  private toRoundView(taskId: string, row: RoundRow): RoundView {
    return {
      round: row.round,
      phase: row.phase,
      attempts: row.attempts,
      openedAt: row.opened_at,
      closedAt: row.closed_at,
      accuracy: row.accuracy,
      loss: row.loss,
      participants: this.acceptedUpdates(taskId, row.round),
      rejected: this.rejections(taskId, row.round),
      rejectedUnlisted: row.rejections_unlisted,
      proofsVerified: row.proofs_verified,
      proofsRejected: row.proofs_rejected,
      modelHashBefore: row.model_hash_before,
      modelHashAfter: row.model_hash_after,
    };
  }

  acceptedUpdates(taskId: string, round: number): AcceptedUpdate[] {
    return this.db
      .prepare(
        `SELECT address, num_samples AS numSamples, train_loss AS trainLoss, commitment, score, amount FROM updates
         WHERE task_id = ? AND round = ? ORDER BY rowid`,
      )
      .all(taskId, round) as AcceptedUpdate[];
  }

  /** The accepted updates of a round, in the order they were accepted (the order they are summed in). */
  storedUpdates(taskId: string, round: number): StoredUpdate[] {
    const rows = this.db
      .prepare(
        `SELECT address, num_samples AS numSamples, q, fraction_bits AS fractionBits FROM updates
         WHERE task_id = ? AND round = ? ORDER BY rowid`,
      )
      .all(taskId, round) as Array<{ address: string; numSamples: number; q: Buffer; fractionBits: string }>;
    return rows.map((row) => ({ ...row, fractionBits: JSON.parse(row.fractionBits) as number[] }));
  }

  /** Records each accepted update's score and amount (by address) once the round is scored. */
  setScores(taskId: string, round: number, scored: Array<{ address: string; score: number; amount: string }>): void {
    const update = this.db.prepare(
      'UPDATE updates SET score = ?, amount = ? WHERE task_id = ? AND round = ? AND address = ?',
    );
    this.db.transaction(() => {
      for (const { address, score, amount } of scored) update.run(score, amount, taskId, round, address);
    })();
  }

  /** The accepted updates of a round with their proofs and scores (and with `publish`, q and salt), for its record. */
  auditedUpdates(taskId: string, round: number, publish: boolean): AuditedUpdate[] {
    const rows = this.db
      .prepare(
        `SELECT address, num_samples AS numSamples, commitment, fraction_bits AS fractionBits, proofs, salt, q, score,
         amount FROM updates WHERE task_id = ? AND round = ? ORDER BY rowid`,
      )
      .all(taskId, round) as Array<{
      address: string;
      numSamples: number;
      commitment: string | null;
      fractionBits: string;
      proofs: string | null;
      salt: string | null;
      q: Buffer;
      score: number | null;
      amount: string | null;
    }>;
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
  recordConsent(taskId: string, address: string, consent: Consent): void {
    this.db
      .prepare('INSERT OR REPLACE INTO consents VALUES (?, ?, ?, ?, ?)')
      .run(taskId, address, consent.termsHash, consent.signature, now());
  }

  /** `address`'s consent to the task, if it gave one. */
  consent(taskId: string, address: string): (Consent & { address: string }) | undefined {
    const row = this.db
      .prepare('SELECT address, terms_hash AS termsHash, signature FROM consents WHERE task_id = ? AND address = ?')
      .get(taskId, address) as { address: string; termsHash: string; signature: string } | undefined;
    return row && { ...row, taskKey: taskKeyOf(taskId) };
  }

  consents(taskId: string): Array<Consent & { address: string }> {
    const rows = this.db
      .prepare('SELECT address, terms_hash AS termsHash, signature FROM consents WHERE task_id = ? ORDER BY address')
      .all(taskId) as Array<{ address: string; termsHash: string; signature: string }>;
    return rows.map((row) => ({ ...row, taskKey: taskKeyOf(taskId) }));
  }

  /** Everything `address` did here: its consents, accepted updates and listed rejections, over all tasks. */
  holderActivity(address: string): {
    consents: Array<{ taskId: string; termsHash: string; at: string }>;
    updates: HolderUpdate[];
    rejections: number;
  } {
    const consents = this.db
      .prepare('SELECT task_id AS taskId, terms_hash AS termsHash, at FROM consents WHERE address = ? ORDER BY at')
      .all(address) as Array<{ taskId: string; termsHash: string; at: string }>;
    const updates = this.db
      .prepare(
        `SELECT task_id AS taskId, round, commitment, score, amount FROM updates WHERE address = ?
         ORDER BY task_id, round`,
      )
      .all(address) as HolderUpdate[];
    const { count } = this.db.prepare('SELECT COUNT(*) AS count FROM rejections WHERE address = ?').get(address) as {
      count: number;
    };
    return { consents, updates, rejections: count };
  }

  /** The signed records of the task's finished rounds, in order. */
  roundRecords(taskId: string): SignedRoundRecord[] {
    const rows = this.db
      .prepare(
        `SELECT record, record_signature AS signature FROM rounds
         WHERE task_id = ? AND record IS NOT NULL ORDER BY round`,
      )
      .all(taskId) as Array<{ record: string; signature: string }>;
    return rows.map((row) => ({ record: JSON.parse(row.record) as RoundRecord, signature: row.signature }));
  }

  private rejections(taskId: string, round: number): RejectionView[] {
    return this.db
      .prepare('SELECT address, code, reason, at FROM rejections WHERE task_id = ? AND round = ? ORDER BY id')
      .all(taskId, round) as RejectionView[];
  }

  /** Records an accepted update, its verified proofs and the running sum that now includes it, atomically. */
  recordAccepted(
    taskId: string,
    round: number,
    update: AcceptedUpdate & UpdateEvidence,
    sum: RunningSum,
    proofsVerified: number,
  ): void {
    this.db.transaction(() => {
      this.countProofs(taskId, round, proofsVerified, 0);
      this.db
        .prepare('INSERT INTO updates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(
          taskId,
          round,
          update.address,
          update.numSamples,
          update.trainLoss,
          now(),
          update.commitment,
          JSON.stringify(update.proofs),
          update.salt ?? null,
          Buffer.from(update.q.buffer, update.q.byteOffset, update.q.byteLength),
          JSON.stringify(update.fractionBits),
          null,
          null,
        );
      this.db
        .prepare('INSERT OR REPLACE INTO running_sums VALUES (?, ?, ?, ?, ?)')
        .run(
          taskId,
          round,
          Buffer.from(sum.sum.buffer, sum.sum.byteOffset, sum.sum.byteLength),
          sum.totalWeight,
          sum.count,
        );
    })();
  }

  recordRejected(
    taskId: string,
    round: number,
    rejection: { address: string; code: ErrorCode; reason: string; proofsRejected: number },
  ): void {
    this.db.transaction(() => {
      this.countProofs(taskId, round, 0, rejection.proofsRejected);
      const listed = this.db
        .prepare(
          'SELECT COUNT(*) AS all_, COUNT(CASE WHEN address = ? THEN 1 END) AS mine FROM rejections WHERE task_id = ? AND round = ?',
        )
        .get(rejection.address, taskId, round) as { all_: number; mine: number };
      if (listed.mine >= this.rejectionLimits.perAddress || listed.all_ >= this.rejectionLimits.perRound) {
        this.db
          .prepare('UPDATE rounds SET rejections_unlisted = rejections_unlisted + 1 WHERE task_id = ? AND round = ?')
          .run(taskId, round);
        return;
      }
      this.db
        .prepare('INSERT INTO rejections (task_id, round, address, code, reason, at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(taskId, round, rejection.address, rejection.code, rejection.reason, now());
    })();
  }

  private countProofs(taskId: string, round: number, verified: number, rejected: number): void {
    if (verified === 0 && rejected === 0) return;
    this.db
      .prepare(
        'UPDATE rounds SET proofs_verified = proofs_verified + ?, proofs_rejected = proofs_rejected + ? WHERE task_id = ? AND round = ?',
      )
      .run(verified, rejected, taskId, round);
  }

  loadRunningSum(taskId: string, round: number, size: number): RunningSum {
    const row = this.db
      .prepare('SELECT sum, total_weight AS totalWeight, count FROM running_sums WHERE task_id = ? AND round = ?')
      .get(taskId, round) as { sum: Buffer; totalWeight: number; count: number } | undefined;
    if (!row) return RunningSum.empty(size);
    return new RunningSum(new Float64Array(alignedBuffer(row.sum)), row.totalWeight, row.count);
  }

  /**
   * Closes a round in one transaction: its metrics and resulting model hash, the task's next round (or its
   * completion), and the running sum it no longer needs.
   */
  finishRound(taskId: string, round: number, result: RoundResult): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE rounds SET phase = 'evaluated', closed_at = ?, accuracy = ?, loss = ?, model_hash_after = ?,
           record = ?, record_signature = ? WHERE task_id = ? AND round = ?`,
        )
        .run(
          now(),
          result.accuracy,
          result.loss,
          result.modelHashAfter,
          JSON.stringify(result.signed.record),
          result.signed.signature,
          taskId,
          round,
        );
      this.db.prepare('DELETE FROM running_sums WHERE task_id = ? AND round = ?').run(taskId, round);
      if (result.last) {
        this.db
          .prepare(`UPDATE tasks SET status = 'completed', model_hash = ? WHERE id = ?`)
          .run(result.modelHashAfter, taskId);
      } else {
        this.db
          .prepare('UPDATE tasks SET current_round = ?, model_hash = ? WHERE id = ?')
          .run(round + 1, result.modelHashAfter, taskId);
        this.insertRound(taskId, round + 1, result.modelHashAfter);
      }
    })();
  }

  /** Adds an action unless the same (task, round, kind) is already known: deriving actions again is harmless. */
  addChainAction(
    action: Pick<ChainAction, 'taskId' | 'round' | 'kind' | 'args'> & Partial<Pick<ChainAction, 'subject'>>,
  ): void {
    this.db
      .prepare('INSERT OR IGNORE INTO chain_actions (task_id, round, kind, subject, args) VALUES (?, ?, ?, ?, ?)')
      .run(action.taskId, action.round, action.kind, action.subject ?? '', JSON.stringify(action.args));
  }

  /** Pending actions in the order they must reach the chain. */
  pendingChainActions(): ChainAction[] {
    return this.chainActionsWhere(`status = 'pending'`);
  }

  /** Every action of a task, in the order they were derived (a settlement timeline). */
  chainActions(taskId: string): ChainAction[] {
    return this.chainActionsWhere('task_id = ?', taskId);
  }

  private chainActionsWhere(condition: string, ...values: string[]): ChainAction[] {
    const rows = this.db
      .prepare(
        `SELECT task_id AS taskId, round, kind, subject, args, status, raw_tx AS rawTx, tx_hash AS txHash, attempts,
         last_error AS lastError FROM chain_actions WHERE ${condition} ORDER BY rowid`,
      )
      .all(...values) as Array<Omit<ChainAction, 'args'> & { args: string }>;
    return rows.map((row) => ({ ...row, args: JSON.parse(row.args) as ChainAction['args'] }));
  }

  updateChainAction(
    action: Pick<ChainAction, 'taskId' | 'round' | 'kind' | 'subject'>,
    change: Partial<Pick<ChainAction, 'status' | 'rawTx' | 'txHash' | 'attempts' | 'lastError'>>,
  ): void {
    const columns = {
      status: 'status',
      rawTx: 'raw_tx',
      txHash: 'tx_hash',
      attempts: 'attempts',
      lastError: 'last_error',
    };
    const entries = Object.entries(change) as Array<[keyof typeof columns, unknown]>;
    if (entries.length === 0) return;
    this.db
      .prepare(
        `UPDATE chain_actions SET ${entries.map(([key]) => `${columns[key]} = ?`).join(', ')}
         WHERE task_id = ? AND round = ? AND kind = ? AND subject = ?`,
      )
      .run(...entries.map(([, value]) => value ?? null), action.taskId, action.round, action.kind, action.subject);
  }

  /** Ends a task that did not complete. */
  endTask(taskId: string, status: 'failed' | 'cancelled'): void {
    this.db.prepare(`UPDATE tasks SET status = ? WHERE id = ?`).run(status, taskId);
  }
}
