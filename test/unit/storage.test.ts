import { expect } from 'chai';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Storage } from '../../coordinator/storage.js';
import { tempDir } from '../helpers/temp.js';

describe('coordinator storage', () => {
  const dir = tempDir();

  it('upgrades a data directory from before rejections were bounded, keeping its rounds', () => {
    const path = join(dir, 'old.sqlite');
    const old = new Database(path);
    old.exec(`CREATE TABLE rounds (
      task_id TEXT NOT NULL, round INTEGER NOT NULL, phase TEXT NOT NULL, attempts INTEGER NOT NULL,
      opened_at TEXT NOT NULL, closed_at TEXT, accuracy REAL, loss REAL,
      proofs_verified INTEGER NOT NULL DEFAULT 0, proofs_rejected INTEGER NOT NULL DEFAULT 0,
      model_hash_before TEXT NOT NULL, model_hash_after TEXT, record TEXT, record_signature TEXT,
      PRIMARY KEY (task_id, round));
      INSERT INTO rounds (task_id, round, phase, attempts, opened_at, model_hash_before)
      VALUES ('t-1', 1, 'training', 1, '2026-01-01T00:00:00.000Z', 'ab');`);
    old.close();
    const storage = new Storage(path, { perAddress: 1, perRound: 10 });
    const rejection = { address: '0x01', code: 'WRONG_LENGTH' as const, reason: 'short', proofsRejected: 0 };
    storage.recordRejected('t-1', 1, rejection);
    storage.recordRejected('t-1', 1, rejection);
    const [round] = storage.listRounds('t-1');
    expect(round!.rejected.map((r) => r.code)).to.deep.equal(['WRONG_LENGTH']);
    expect(round!.rejectedUnlisted).to.equal(1);
    storage.close();
  });
});
