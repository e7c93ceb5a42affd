/**
 * The coordinator on a real PostgreSQL (started here on a free port, thrown away afterwards): the storage contract
 * every engine meets, and a task trained end to end with real clients and proofs while PostgreSQL restarts.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { Storage } from '../../coordinator/state/storage.js';
import { runClients } from '../helpers/clients.js';
import { dataRoot, smallTask, writeShards } from '../helpers/fixtures.js';
import { type Postgres, startPostgres } from '../helpers/postgres.js';
import { createTask, eventually, getRounds } from '../helpers/rest.js';
import { storageContract } from '../helpers/storage-contract.js';
import { tempDir } from '../helpers/temp.js';
import { startTestCoordinator } from '../helpers/servers.js';

describe('the coordinator on PostgreSQL', function () {
  const dir = tempDir();
  let postgres: Postgres;
  let databases = 0;
  before(async () => {
    postgres = await startPostgres();
  });
  after(() => postgres?.stop());

  describe('storage', () => {
    storageContract(async () => Storage.open(await postgres.database(`contract_${databases++}`)));
  });

  it('retries the writes a PostgreSQL restart cuts off: none is lost, none is doubled', async () => {
    const storage = await Storage.open(await postgres.database('writes'));
    try {
      let done = 0;
      const writes = (async () => {
        for (let k = 0; k < 300; k++) {
          await storage.chainActions.add({ taskId: 't-w', round: 1, kind: 'answer', subject: String(k), args: [] });
          done++;
        }
      })();
      // Awaited below; until then a failure must not count as unhandled.
      writes.catch(() => undefined);
      await eventually(() => Promise.resolve(done >= 50 ? true : undefined), '50 writes');
      await postgres.halt();
      const doneAtHalt = done;
      // The server is gone: the write in flight cannot finish, nor can any after it, until it is back.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect([doneAtHalt < 300, done]).to.deep.equal([true, doneAtHalt]);
      await postgres.resume();
      await writes;
      const subjects = (await storage.chainActions.ofTask('t-w')).map((action) => Number(action.subject));
      expect(subjects).to.deep.equal(Array.from({ length: 300 }, (_, k) => k));
    } finally {
      await storage.close();
    }
  });

  it('trains a task with proofs, and goes on after PostgreSQL restarts mid-round', async () => {
    const database = await postgres.database('training');
    const coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'coordinator'), database });
    try {
      // Round 1 waits for a second client: PostgreSQL restarts while it holds one update.
      const task = await createTask(
        coordinator.url,
        smallTask({ rounds: 2, clientsPerRound: { min: 2, target: 2 }, roundDeadlineSeconds: 120 }),
      );
      const [first, second] = writeShards(dir, [300, 300]);
      const [early] = runClients(coordinator.url, task.id, [first!], [join(dir, 'a.json')]);
      const before = await eventually(async () => {
        const [round] = await getRounds(coordinator.url, task.id);
        return round?.participants.length === 1 ? round : undefined;
      }, 'one accepted update in round 1');
      await postgres.restart(1000);
      const [late] = runClients(coordinator.url, task.id, [second!], [join(dir, 'b.json')]);
      const clients = [early!, late!];

      const results = await Promise.all(clients);
      expect(results.map((result) => [result.status, result.roundsContributed])).to.deep.equal([
        ['completed', 2],
        ['completed', 2],
      ]);
      const rounds = await getRounds(coordinator.url, task.id);
      expect(rounds.map((round) => [round.phase, round.participants.length, round.rejected.length])).to.deep.equal([
        ['evaluated', 2, 0],
        ['evaluated', 2, 0],
      ]);
      // The update accepted before the restart is the first one summed in round 1.
      expect(rounds[0]!.participants[0]!.address).to.equal(before.participants[0]!.address);
      expect(rounds.map((round) => round.proofsVerified)).to.deep.equal(rounds.map(() => 2));
    } finally {
      await coordinator.close();
    }
  });
});
