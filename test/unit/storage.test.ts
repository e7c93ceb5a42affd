import { expect } from 'chai';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Storage } from '../../coordinator/state/storage.js';
import { storageContract } from '../helpers/storage-contract.js';
import { tempDir } from '../helpers/temp.js';

describe('coordinator storage on SQLite', () => {
  const dir = tempDir();
  let opened = 0;

  storageContract(() => Storage.open(join(dir, `contract-${opened++}.sqlite`)));

  it('migrates a data directory from before migrations were versioned, keeping its rows and their order', async () => {
    const path = join(dir, 'old.sqlite');
    const old = new Database(path);
    // The schema as the coordinator wrote it before versioned migrations (and before rejections were bounded).
    old.exec(`CREATE TABLE tasks (
      id TEXT PRIMARY KEY, spec TEXT NOT NULL, zk TEXT NOT NULL, status TEXT NOT NULL, current_round INTEGER NOT NULL,
      num_params INTEGER NOT NULL, model_hash TEXT NOT NULL, created_at TEXT NOT NULL);
    CREATE TABLE rounds (
      task_id TEXT NOT NULL, round INTEGER NOT NULL, phase TEXT NOT NULL, attempts INTEGER NOT NULL,
      opened_at TEXT NOT NULL, closed_at TEXT, accuracy REAL, loss REAL,
      proofs_verified INTEGER NOT NULL DEFAULT 0, proofs_rejected INTEGER NOT NULL DEFAULT 0,
      model_hash_before TEXT NOT NULL, model_hash_after TEXT, record TEXT, record_signature TEXT,
      PRIMARY KEY (task_id, round));
    CREATE TABLE updates (
      task_id TEXT NOT NULL, round INTEGER NOT NULL, address TEXT NOT NULL, num_samples INTEGER NOT NULL,
      train_loss REAL, received_at TEXT NOT NULL, commitment TEXT, proofs TEXT, salt TEXT, q BLOB,
      fraction_bits TEXT NOT NULL DEFAULT '[]', score REAL, amount TEXT, PRIMARY KEY (task_id, round, address));
    CREATE TABLE chain_actions (
      task_id TEXT NOT NULL, round INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL DEFAULT '',
      args TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', raw_tx TEXT, tx_hash TEXT,
      attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, PRIMARY KEY (task_id, round, kind, subject));
    INSERT INTO rounds (task_id, round, phase, attempts, opened_at, model_hash_before)
      VALUES ('t-1', 1, 'training', 1, '2026-01-01T00:00:00.000Z', 'ab');
    INSERT INTO updates (task_id, round, address, num_samples, received_at, q) VALUES
      ('t-1', 1, '0xcc', 1, 'then', x'01'), ('t-1', 1, '0xaa', 1, 'then', x'02');
    INSERT INTO chain_actions (task_id, round, kind, args) VALUES ('t-1', 2, 'bond', '[]'), ('t-1', 1, 'open', '[]');`);
    old.close();

    const storage = await Storage.open(path, { perAddress: 1, perRound: 10 });
    // Acceptance order was the rowid; it is kept.
    expect((await storage.updates.accepted('t-1', 1)).map((u) => u.address)).to.deep.equal(['0xcc', '0xaa']);
    expect((await storage.chainActions.pending()).map((a) => `${a.round} ${a.kind}`)).to.deep.equal([
      '2 bond',
      '1 open',
    ]);
    const rejection = { address: '0x01', code: 'WRONG_LENGTH' as const, reason: 'short' };
    await storage.updates.recordRejected('t-1', 1, rejection, {});
    await storage.updates.recordRejected('t-1', 1, rejection, {});
    const [round] = await storage.rounds.list('t-1');
    expect(round!.rejected.map((r) => r.code)).to.deep.equal(['WRONG_LENGTH']);
    expect(round!.rejectedUnlisted).to.equal(1);
    await storage.close();
    // Opening it again runs nothing more.
    await (await Storage.open(path)).close();
    const migrated = new Database(path);
    const names = migrated.prepare('SELECT name FROM kysely_migration ORDER BY name').all() as Array<{ name: string }>;
    expect(names.map((row) => row.name)).to.deep.equal([
      '0001-initial',
      '0002-explicit-order',
      '0003-round-counts',
      '0004-leases',
      '0005-reasons',
      '0006-uploads',
      '0007-round-epsilon',
      '0008-round-members',
    ]);
    migrated.close();
  });
});
