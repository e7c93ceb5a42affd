/**
 * The coordinator's database: SQLite in the data directory (the embedded default) or PostgreSQL
 * (`--database postgres://…`, for several coordinator instances), one schema for both through Kysely, and one
 * list of versioned migrations that brings any database — a fresh one, or a data directory from before
 * migrations were versioned — to the current schema.
 */
import Database from 'better-sqlite3';
import {
  type ColumnType,
  type Generated,
  Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  PostgresDialect,
  sql,
  SqliteDialect,
} from 'kysely';
import pg from 'pg';
import type { RoundPhase, TaskStatus } from '../../protocol/states.js';
import { createLogger } from '../../common/log.js';

const log = createLogger('database');

export type Engine = 'sqlite' | 'postgres';

/** Binary columns: Buffer when read; any bytes when written. */
type Bytes = ColumnType<Buffer, Uint8Array, Uint8Array>;

export interface Tables {
  tasks: {
    id: string;
    spec: string;
    zk: string;
    status: TaskStatus;
    current_round: number;
    num_params: number;
    model_hash: string;
    created_at: string;
    /** Why a task that did not complete ended (its escrow's deadline, a round that could not fill, …). */
    reason: string | null;
  };
  rounds: {
    task_id: string;
    round: number;
    phase: RoundPhase;
    attempts: number;
    opened_at: string;
    closed_at: string | null;
    accuracy: number | null;
    loss: number | null;
    proofs_verified: Generated<number>;
    proofs_rejected: Generated<number>;
    rejections_unlisted: Generated<number>;
    /** Clients sent the round's model (a client resampled after dropping out counts again). */
    sampled: Generated<number>;
    /** Sampled clients whose update arrived, accepted or rejected. */
    answered: Generated<number>;
    /** Seconds spent verifying the round's proofs, summed over its updates. */
    verify_seconds: Generated<number>;
    model_hash_before: string;
    model_hash_after: string | null;
    record: string | null;
    record_signature: string | null;
    /** What the round waits for, or why it ended as it did, when that is not its usual course. */
    note: string | null;
    /** A private task's ε spent up to and including this round (its record's privacy.epsilon). */
    epsilon: number | null;
  };
  updates: {
    task_id: string;
    round: number;
    address: string;
    /** 1, 2, … in the order the round accepted them: the order they are summed in. */
    position: number;
    num_samples: number;
    train_loss: number | null;
    received_at: string;
    commitment: string | null;
    proofs: string | null;
    salt: string | null;
    q: Bytes;
    fraction_bits: string;
    score: number | null;
    amount: string | null;
  };
  consents: { task_id: string; address: string; terms_hash: string; signature: string; at: string };
  rejections: {
    id: Generated<number>;
    task_id: string;
    round: number;
    address: string;
    code: string;
    reason: string;
    at: string;
  };
  chain_actions: {
    task_id: string;
    round: number;
    kind: string;
    subject: string;
    /** The order actions were derived in, which is the order they must reach the chain. */
    position: number;
    args: string;
    status: Generated<string>;
    raw_tx: string | null;
    tx_hash: string | null;
    attempts: Generated<number>;
    last_error: string | null;
  };
  running_sums: { task_id: string; round: number; sum: Bytes; total_weight: number; count: number };
  /**
   * A private round's sampling until it closes: every holder it could sample, and (asked = 1) those it sent its
   * model to — what its sampling rate q is counted from, kept so that a restart does not forget it.
   */
  round_members: { task_id: string; round: number; address: string; asked: number };
  /** Who runs what among coordinator instances sharing the database (`task:<id>`, `chain`), and until when (ms). */
  leases: { name: string; holder: string; expires_at: number };
  /**
   * Who uploaded which evaluation set (one row per owner: the files are shared, content-addressed), how many bytes
   * it counts against that owner's quota, and when it was last uploaded or used by a new task (ms).
   */
  uploads: { id: string; owner: string; bytes: number; used_at: number };
}

export type Db = Kysely<Tables>;

/**
 * The migrations, in order. Never edit one that has shipped: add the next. The first is the schema as it stood
 * before migrations were versioned, written so that it leaves such a database as it is.
 */
function migrations(engine: Engine): Record<string, Migration> {
  const double = engine === 'postgres' ? 'double precision' : 'real';
  const bytes = engine === 'postgres' ? 'bytea' : 'blob';
  return {
    '0001-initial': {
      async up(db: Kysely<unknown>) {
        const schema = db.schema;
        await schema
          .createTable('tasks')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('spec', 'text', (c) => c.notNull())
          .addColumn('zk', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('current_round', 'integer', (c) => c.notNull())
          .addColumn('num_params', 'integer', (c) => c.notNull())
          .addColumn('model_hash', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await schema
          .createTable('rounds')
          .ifNotExists()
          .addColumn('task_id', 'text', (c) => c.notNull())
          .addColumn('round', 'integer', (c) => c.notNull())
          .addColumn('phase', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('opened_at', 'text', (c) => c.notNull())
          .addColumn('closed_at', 'text')
          .addColumn('accuracy', sql.raw(double))
          .addColumn('loss', sql.raw(double))
          .addColumn('proofs_verified', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('proofs_rejected', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('rejections_unlisted', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('model_hash_before', 'text', (c) => c.notNull())
          .addColumn('model_hash_after', 'text')
          .addColumn('record', 'text')
          .addColumn('record_signature', 'text')
          .addPrimaryKeyConstraint('rounds_pk', ['task_id', 'round'])
          .execute();
        // Data directories from before rejections were bounded lack this column.
        const rounds = (await db.introspection.getTables()).find((table) => table.name === 'rounds');
        if (!rounds?.columns.some((column) => column.name === 'rejections_unlisted')) {
          await schema
            .alterTable('rounds')
            .addColumn('rejections_unlisted', 'integer', (c) => c.notNull().defaultTo(0))
            .execute();
        }
        await schema
          .createTable('updates')
          .ifNotExists()
          .addColumn('task_id', 'text', (c) => c.notNull())
          .addColumn('round', 'integer', (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('num_samples', 'integer', (c) => c.notNull())
          .addColumn('train_loss', sql.raw(double))
          .addColumn('received_at', 'text', (c) => c.notNull())
          .addColumn('commitment', 'text')
          .addColumn('proofs', 'text')
          .addColumn('salt', 'text')
          .addColumn('q', sql.raw(bytes))
          .addColumn('fraction_bits', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('score', sql.raw(double))
          .addColumn('amount', 'text')
          .addPrimaryKeyConstraint('updates_pk', ['task_id', 'round', 'address'])
          .execute();
        await schema
          .createTable('consents')
          .ifNotExists()
          .addColumn('task_id', 'text', (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('terms_hash', 'text', (c) => c.notNull())
          .addColumn('signature', 'text', (c) => c.notNull())
          .addColumn('at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('consents_pk', ['task_id', 'address'])
          .execute();
        await schema
          .createTable('rejections')
          .ifNotExists()
          .addColumn('id', engine === 'postgres' ? 'serial' : 'integer', (c) =>
            engine === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('task_id', 'text', (c) => c.notNull())
          .addColumn('round', 'integer', (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('code', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('at', 'text', (c) => c.notNull())
          .execute();
        const index = (name: string, table: string, columns: string[]): Promise<void> =>
          schema.createIndex(name).ifNotExists().on(table).columns(columns).execute();
        await index('rejections_by_round', 'rejections', ['task_id', 'round']);
        await index('updates_by_address', 'updates', ['address']);
        await index('consents_by_address', 'consents', ['address']);
        await index('rejections_by_address', 'rejections', ['address']);
        await schema
          .createTable('chain_actions')
          .ifNotExists()
          .addColumn('task_id', 'text', (c) => c.notNull())
          .addColumn('round', 'integer', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('args', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending'))
          .addColumn('raw_tx', 'text')
          .addColumn('tx_hash', 'text')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('last_error', 'text')
          .addPrimaryKeyConstraint('chain_actions_pk', ['task_id', 'round', 'kind', 'subject'])
          .execute();
        await schema
          .createTable('running_sums')
          .ifNotExists()
          .addColumn('task_id', 'text', (c) => c.notNull())
          .addColumn('round', 'integer', (c) => c.notNull())
          .addColumn('sum', sql.raw(bytes), (c) => c.notNull())
          .addColumn('total_weight', sql.raw(double), (c) => c.notNull())
          .addColumn('count', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('running_sums_pk', ['task_id', 'round'])
          .execute();
      },
    },
    // Orders were SQLite's rowid, which PostgreSQL has not: they become columns, filled from rowid here.
    '0002-explicit-order': {
      async up(db: Kysely<unknown>) {
        for (const table of ['updates', 'chain_actions']) {
          await db.schema
            .alterTable(table)
            .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
            .execute();
          if (engine === 'sqlite') await sql`UPDATE ${sql.table(table)} SET position = rowid`.execute(db);
        }
        await db.schema.createIndex('chain_actions_by_position').on('chain_actions').column('position').execute();
      },
    },
    // What the dashboard's rounds table shows beside accepted and rejected; rounds closed before it read 0.
    '0003-round-counts': {
      async up(db: Kysely<unknown>) {
        for (const [column, type] of [
          ['sampled', 'integer'],
          ['answered', 'integer'],
          ['verify_seconds', double],
        ] as const) {
          await db.schema
            .alterTable('rounds')
            .addColumn(column, sql.raw(type), (c) => c.notNull().defaultTo(0))
            .execute();
        }
      },
    },
    '0004-leases': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('leases')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('expires_at', sql.raw(double), (c) => c.notNull())
          .execute();
      },
    },
    '0005-reasons': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('tasks').addColumn('reason', 'text').execute();
        await db.schema.alterTable('rounds').addColumn('note', 'text').execute();
      },
    },
    '0006-uploads': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('uploads')
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('bytes', sql.raw(double), (c) => c.notNull())
          .addColumn('used_at', sql.raw(double), (c) => c.notNull())
          .addPrimaryKeyConstraint('uploads_pk', ['id', 'owner'])
          .execute();
      },
    },
    '0007-round-epsilon': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('rounds').addColumn('epsilon', sql.raw(double)).execute();
      },
    },
    '0008-round-members': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('round_members')
          .addColumn('task_id', 'text', (c) => c.notNull())
          .addColumn('round', 'integer', (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('asked', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('round_members_pk', ['task_id', 'round', 'address'])
          .execute();
      },
    },
  };
}

/** Errors that mean the server is away for now (restarting, or not yet up), not that the query is wrong. */
export function serverAway(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P02', '57P03'].includes(code) ||
    code.startsWith('08') ||
    /Connection terminated|connection error and is not queryable/.test((error as Error).message)
  );
}

/**
 * A pool whose connections wait out a PostgreSQL restart: an idle connection the server dropped is discarded,
 * and a new one is retried for up to a minute while the server is away, so the coordinator goes on afterwards.
 */
function reconnectingPool(location: string): { connect(): Promise<pg.PoolClient>; end(): Promise<void> } {
  const pool = new pg.Pool({ connectionString: location, max: 10 });
  const lost = (error: Error): void => log.warn('database connection lost', { error: error.message });
  pool.on('error', lost);
  // The pool listens only to its idle connections: one in use whose server goes away would emit an unhandled
  // 'error' (its query fails on its own). Each connection gets a listener once.
  const listened = new WeakSet<pg.PoolClient>();
  return {
    async connect() {
      for (let attempt = 1; ; attempt++) {
        try {
          const client = await pool.connect();
          if (!listened.has(client)) {
            listened.add(client);
            client.on('error', lost);
          }
          return client;
        } catch (error) {
          if (!serverAway(error) || attempt >= 120) throw error;
          if (attempt === 1) log.warn('database unreachable, retrying', { error: (error as Error).message });
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
    },
    end: () => pool.end(),
  };
}

/** Where the database lives: a PostgreSQL URL, or the path of a SQLite file. */
export function engineOf(location: string): Engine {
  return /^postgres(ql)?:\/\//.test(location) ? 'postgres' : 'sqlite';
}

/** Opens the database at `location` and migrates it to the current schema. */
export async function openDatabase(location: string): Promise<{ db: Db; engine: Engine }> {
  const engine = engineOf(location);
  let db: Db;
  if (engine === 'postgres') {
    db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool: reconnectingPool(location) }) });
  } else {
    const sqlite = new Database(location);
    sqlite.pragma('journal_mode = WAL');
    // FULL: a commit reaches the disk before the client is told its update was accepted.
    sqlite.pragma('synchronous = FULL');
    db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: sqlite }) });
  }
  const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations(engine)) };
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  for (const result of results ?? []) {
    if (result.status === 'Success') log.info(`database migrated: ${result.migrationName}`, { engine });
  }
  if (error) {
    await db.destroy();
    throw error instanceof Error ? error : new Error(`migration failed: ${JSON.stringify(error)}`);
  }
  return { db, engine };
}
