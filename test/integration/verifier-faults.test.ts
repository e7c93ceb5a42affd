/**
 * A fault of the coordinator's infrastructure never costs an honest update, and a round that cannot fill never
 * hangs: a `zkfl worker` SIGKILLed while it holds a proof, every worker killed, a verifier process of the
 * coordinator's own pool killed mid-proof, Redis restarted mid-round; and rounds whose only missing client was
 * rejected, ending or waiting as their spec says. Real Redis, worker processes and proofs, default timeouts.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RoundStartPayload } from '../../protocol/events.js';
import type { TaskView } from '../../protocol/rest.js';
import { CoordinatorApi } from '../../protocol/api.js';
import { runClients } from '../helpers/clients.js';
import { dataRoot, smallTask, writeShards } from '../helpers/fixtures.js';
import { spawnWorker } from '../helpers/processes.js';
import { connect, joinWithConsent, next, randomWallet, request } from '../helpers/raw-client.js';
import { type Redis, startRedis } from '../helpers/redis.js';
import { createTask, eventually, getRounds } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { startTestCoordinator } from '../helpers/servers.js';

describe('faults of the verifiers and rounds that cannot fill', function () {
  const dir = tempDir();
  let redis: Redis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  /** A file that holds the first verification to reach it (common/test-hooks.ts), and the pid of who it holds. */
  function holdFile(name: string): { path: string; holder(): Promise<number>; release(): void } {
    const path = join(dir, `${name}.hold`);
    writeFileSync(path, '');
    return {
      path,
      holder: () =>
        eventually(
          () =>
            Promise.resolve(
              existsSync(`${path}.held`) ? Number(readFileSync(`${path}.held`, 'utf8')) || undefined : undefined,
            ),
          'a verification to be held',
        ),
      release: () => rmSync(path, { force: true }),
    };
  }

  /** Trains `task` with two honest clients; answers each round's [verified, rejected] proofs and rejections. */
  async function trainHonestly(url: string, task: TaskView, name: string): Promise<unknown[]> {
    const shards = writeShards(join(dir, name), [300, 300]);
    const results = await Promise.all(
      runClients(
        url,
        task.id,
        shards,
        ['a', 'b'].map((key) => join(dir, name, key)),
      ),
    );
    expect(results.map((result) => [result.status, result.roundsContributed])).to.deep.equal([
      ['completed', task.spec.rounds],
      ['completed', task.spec.rounds],
    ]);
    const rounds = await getRounds(url, task.id);
    return rounds.map((round) => [round.proofsVerified, round.proofsRejected, round.rejected.length]);
  }

  it('accepts the update whose worker was SIGKILLed holding its proof, with default settings', async () => {
    const hold = holdFile('worker');
    const env = { ZKFL_TEST_HOLD_VERIFICATION: hold.path };
    const workers = await Promise.all([spawnWorker(redis.url, 10, env), spawnWorker(redis.url, 10, env)]);
    const coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'w'), redis: redis.url });
    const task = await createTask(coordinator.url, smallTask({ rounds: 2 }));
    const training = trainHonestly(coordinator.url, task, 'worker');
    const pid = await hold.holder();
    const killed = workers.find((worker) => worker.child.pid === pid)!;
    killed.child.kill('SIGKILL');
    await killed.exited;
    hold.release();
    expect(await training).to.deep.equal([
      [2, 0, 0],
      [2, 0, 0],
    ]);
    await coordinator.close();
  });

  it('verifies proofs itself when every worker is dead, and loses nothing', async () => {
    const workers = await Promise.all([spawnWorker(redis.url), spawnWorker(redis.url)]);
    const coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'all'), redis: redis.url });
    const task = await createTask(coordinator.url, smallTask({ rounds: 2 }));
    for (const worker of workers) worker.child.kill('SIGKILL');
    await Promise.all(workers.map((worker) => worker.exited));
    expect(await trainHonestly(coordinator.url, task, 'all')).to.deep.equal([
      [2, 0, 0],
      [2, 0, 0],
    ]);
    await coordinator.close();
  });

  it('replaces a verifier process of its own pool killed mid-proof, and verifies the proof again', async () => {
    const hold = holdFile('pool');
    process.env.ZKFL_TEST_HOLD_VERIFICATION = hold.path;
    const coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'pool') });
    try {
      const task = await createTask(coordinator.url, smallTask({ rounds: 1 }));
      const training = trainHonestly(coordinator.url, task, 'pool');
      process.kill(await hold.holder(), 'SIGKILL');
      hold.release();
      expect(await training).to.deep.equal([[2, 0, 0]]);
    } finally {
      delete process.env.ZKFL_TEST_HOLD_VERIFICATION;
      await coordinator.close();
    }
  });

  it('loses no update when Redis restarts mid-round', async () => {
    const hold = holdFile('redis');
    const worker = await spawnWorker(redis.url, 10, { ZKFL_TEST_HOLD_VERIFICATION: hold.path });
    const coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'r'), redis: redis.url });
    const task = await createTask(coordinator.url, smallTask({ rounds: 2 }));
    const training = trainHonestly(coordinator.url, task, 'redis');
    // A proof is on the queue, held by the worker, when Redis goes away with the queue in it.
    await hold.holder();
    await redis.restart();
    hold.release();
    expect(await training).to.deep.equal([
      [2, 0, 0],
      [2, 0, 0],
    ]);
    worker.child.kill('SIGTERM');
    await coordinator.close();
  });

  describe('a round whose only missing client was rejected', () => {
    /** A task of one round for two clients; one honest client and one whose update is refused (WRONG_LENGTH). */
    async function shortRound(name: string, whenShort: 'wait' | 'end') {
      const coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, name) });
      const task = await createTask(
        coordinator.url,
        smallTask({
          rounds: 1,
          proofs: false,
          roundDeadlineSeconds: 5,
          clientsPerRound: { min: 2, target: 2, whenShort },
        }),
      );
      const wallet = randomWallet();
      const liar = await connect(coordinator.url, wallet);
      const started = next<RoundStartPayload>(liar, 'round:start');
      await joinWithConsent(liar, coordinator.url, wallet, task.id);
      const honest = runClients(coordinator.url, task.id, writeShards(join(dir, name), [300]), [join(dir, name, 'a')]);
      const { round } = await started;
      const reply = await request(liar, 'update', {
        taskId: task.id,
        round,
        numSamples: 10,
        q: new Uint8Array(3),
        fractionBits: [8],
      });
      expect(reply.ok ? 'accepted' : reply.error.code).to.equal('WRONG_LENGTH');
      return { coordinator, task, honest: honest[0]! };
    }

    it('ends the task within one deadline, saying why, when its spec says end', async () => {
      const { coordinator, task, honest } = await shortRound('short-end', 'end');
      expect((await honest).status).to.equal('failed');
      const ended = await new CoordinatorApi(coordinator.url).task(task.id);
      expect([ended.status, ended.reason]).to.deep.equal([
        'failed',
        'round 1 had 1 of at least 2 updates by the deadline, and no connected client left to ask (clientsPerRound.whenShort: end)',
      ]);
      const [round] = await getRounds(coordinator.url, task.id);
      // One attempt: it never went on sampling nobody.
      expect([round!.attempts, round!.sampled, round!.note]).to.deep.equal([
        1,
        2,
        'round 1 had 1 of at least 2 updates by the deadline, and no connected client left to ask',
      ]);
      await coordinator.close();
    });

    it('waits for a new client, saying so, when its spec says wait, and completes with it', async () => {
      const { coordinator, task, honest } = await shortRound('short-wait', 'wait');
      const waiting = await eventually(async () => {
        const [round] = await getRounds(coordinator.url, task.id);
        return round?.note?.endsWith('waiting for new clients') ? round : undefined;
      }, 'the round to say it waits for new clients');
      expect(waiting.attempts).to.equal(1);
      const late = runClients(coordinator.url, task.id, writeShards(join(dir, 'late'), [300]), [
        join(dir, 'late', 'b'),
      ]);
      expect([(await honest).status, (await late[0]!).status]).to.deep.equal(['completed', 'completed']);
      const [round] = await getRounds(coordinator.url, task.id);
      expect([round!.attempts, round!.participants.length, round!.note]).to.deep.equal([
        2,
        2,
        'round 1 had 1 of at least 2 updates by the deadline, and no connected client left to ask: it waited for new clients, and went on with them',
      ]);
      await coordinator.close();
    });
  });
});
