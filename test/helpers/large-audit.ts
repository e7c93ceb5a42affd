/**
 * A finished task whose signed records are as large as a long public audit's, written straight into a coordinator's
 * storage instead of run: what `bench:audit-stream` serves, and what the tests hold an audit stream open on.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Storage } from '../../coordinator/state/storage.js';
import type { AuditedUpdate, SignedRoundRecord } from '../../protocol/audit.js';
import { parseTaskSpec } from '../../protocol/task-spec.js';
import { storedZk } from './storage-contract.js';

export const LARGE_TASK_ID = 't-large';

/** Public signals of a fake proof: about 8 KiB of decimal text per update, 4 MiB per record of 500 updates. */
const SIGNALS_PER_UPDATE = 100;

/** A signed record the size of a real one of `updates` updates (the coordinator does not check it). */
function largeRecord(round: number, updates: number): SignedRoundRecord {
  const accepted: AuditedUpdate[] = Array.from({ length: updates }, (_, k) => ({
    address: `0x${(round * updates + k).toString(16).padStart(40, '0')}`,
    numSamples: 1000,
    commitment: `0x${'ab'.repeat(32)}`,
    fractionBits: [12],
    proofs: [
      {
        proof: { pi_a: [], pi_b: [], pi_c: [], protocol: 'groth16', curve: 'bn128' },
        publicSignals: Array.from({ length: SIGNALS_PER_UPDATE }, () => '1'.repeat(76)),
      },
    ],
    score: 0.001,
    amount: '1000',
  }));
  return {
    record: { round, taskId: LARGE_TASK_ID, accepted } as unknown as SignedRoundRecord['record'],
    signature: '0x00',
  };
}

/** Writes the finished task (`rounds` records of `updates` updates) into `dataDir`; the records' size in bytes. */
export async function writeLargeTask(dataDir: string, rounds: number, updates = 500): Promise<number> {
  mkdirSync(dataDir, { recursive: true });
  const storage = await Storage.open(join(dataDir, 'coordinator.sqlite'));
  const spec = parseTaskSpec({
    name: 'large-audit',
    model: { preset: 'mlp', hidden: [2] },
    inputShape: [2],
    classes: 2,
    rounds,
    clientsPerRound: { min: 1, target: updates },
    proofs: false,
    evaluation: { path: 'unused.csv' },
  });
  await storage.tasks.create({ id: LARGE_TASK_ID, spec, zk: storedZk, numParams: 4, modelHash: '00'.repeat(32) });
  let bytes = 0;
  for (let round = 1; round <= rounds; round++) {
    const signed = largeRecord(round, updates);
    bytes += JSON.stringify(signed).length;
    await storage.rounds.finish(LARGE_TASK_ID, round, {
      accuracy: 0,
      loss: 0,
      modelHashAfter: '00'.repeat(32),
      last: round === rounds,
      signed,
    });
  }
  await storage.close();
  return bytes;
}
