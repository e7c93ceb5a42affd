/**
 * One deployment of several coordinator instances (real processes) sharing a real PostgreSQL and Redis, with proofs
 * verified by two `zkfl worker` processes: sign-ins and owner actions work at either instance; clients on either
 * instance train one task; the instance running it is SIGKILLed mid-round, and the other takes the task over and
 * finishes it, with no accepted update lost and no round aggregated twice.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { CoordinatorApi } from '../../protocol/api.js';
import type { RoundView } from '../../protocol/rest.js';
import { signIn } from '../../protocol/sign-in.js';
import { smallTask, writeShards } from '../helpers/fixtures.js';
import { type Postgres, startPostgres } from '../helpers/postgres.js';
import { type CoordinatorProcess, spawnClient, spawnCoordinator, spawnWorker } from '../helpers/processes.js';
import { type Redis, startRedis } from '../helpers/redis.js';
import { createTask, eventually, getRounds } from '../helpers/rest.js';
import { freePort } from '../helpers/ports.js';
import { failoverProxy } from '../helpers/tcp-proxy.js';
import { tempDir } from '../helpers/temp.js';

describe('several coordinator instances', function () {
  const dir = tempDir();
  let postgres: Postgres;
  let redis: Redis;

  before(async () => {
    [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  });
  after(async () => {
    await Promise.all([postgres?.stop(), redis?.stop()]);
  });

  /**
   * Two instances and two workers of one deployment, sharing the database, Redis and the data directory (checkpoints,
   * key, uploads), reached at a balancer's address (and, in this test, at each instance's own).
   */
  async function startDeployment() {
    const database = await postgres.database('instances');
    const [portA, portB, portBalancer] = [await freePort(), await freePort(), await freePort()];
    const publicUrls = [portBalancer, portA, portB].map((port) => `http://127.0.0.1:${port}`).join(',');
    const options = ['--database', database, '--redis', redis.url, '--lease-seconds', '5', '--public-url', publicUrls];
    await Promise.all([spawnWorker(redis.url), spawnWorker(redis.url)]);
    const a: CoordinatorProcess = await spawnCoordinator(join(dir, 'shared'), portA, options);
    const b = await spawnCoordinator(join(dir, 'shared'), portB, options);
    // Clients behind the balancer reach a while it lives, then b.
    const balancer = await failoverProxy([new URL(a.url), new URL(b.url)], portBalancer);
    // A failure in a step says what the instances logged (warnings and errors).
    const withLogs = async <T>(step: () => Promise<T>): Promise<T> =>
      step().catch((error: unknown) => {
        const logs = `--- a:\n${a.stderr.join('\n')}\n--- b:\n${b.stderr.join('\n')}`;
        throw new Error(`${(error as Error).message}\n${logs}`);
      });
    return { a, b, balancer, withLogs };
  }

  /** After the takeover: every round aggregated once, round 2 with every update accepted before the kill. */
  async function expectCompletedIntact(url: string, taskId: string, beforeKill: RoundView[]): Promise<void> {
    const api = new CoordinatorApi(url);
    expect((await api.task(taskId)).status).to.equal('completed');
    const rounds = await getRounds(url, taskId);
    expect(rounds.map((round) => [round.phase, round.participants.length])).to.deep.equal([
      ['evaluated', 3],
      ['evaluated', 3],
    ]);
    expect(rounds[0]!.modelHashAfter).to.equal(beforeKill[0]!.modelHashAfter);
    const kept = rounds[1]!.participants.map((p) => [p.address, p.commitment]);
    for (const accepted of beforeKill[1]!.participants) {
      expect(kept).to.deep.include([accepted.address, accepted.commitment]);
    }
    expect(rounds.flatMap((round) => round.rejected)).to.deep.equal([]);
    expect(rounds.map((round) => round.proofsVerified)).to.deep.equal([3, 3]);
    // One signed record per round, each model following the one before.
    const bundle = await api.audit(taskId);
    expect(bundle.rounds.map((signed) => signed.record.round)).to.deep.equal([1, 2]);
    for (let r = 1; r < bundle.rounds.length; r++) {
      expect(bundle.rounds[r]!.record.modelHashBefore).to.equal(bundle.rounds[r - 1]!.record.modelHashAfter);
    }
  }

  it('hands a task to the surviving instance when the one running it is killed mid-round', async () => {
    const { a, b, balancer, withLogs } = await startDeployment();
    try {
      // Created on a, so a runs it.
      const task = await createTask(a.url, smallTask({ rounds: 2, clientsPerRound: { min: 3, target: 3 } }));
      // Sign-ins hold across instances: a nonce from a, signed in at b, the session used at a; and a task running on
      // a is cancelled at b, which sends the cancel to a.
      const owner = Wallet.createRandom();
      const [atA, atB] = [new CoordinatorApi(a.url), new CoordinatorApi(b.url)];
      const session = await atB.session(await signIn(owner, atB.base, await atA.nonce()));
      const spare = await withLogs(() => atA.createTask(session.token, smallTask({ name: 'cancelled at b' })));
      expect((await withLogs(() => atB.cancelTask(session.token, spare.id))).status).to.equal('cancelled');

      const [quick, other, frozen] = writeShards(dir, [200, 200, 200]);
      const clients = [
        // On b from the start: its updates go to a through Redis until a dies.
        spawnClient(b.url, task.id, quick!, join(dir, 'on-b.json')),
        spawnClient(balancer.url, task.id, other!, join(dir, 'on-a.json')),
        // Frozen once round 1 took its update: round 2 cannot close before a is killed.
        spawnClient(balancer.url, task.id, frozen!, join(dir, 'frozen-on-a.json')),
      ];
      await clients[2]!.waitFor((event) => event.type === 'submitted' && event.round === 1 && event.accepted);
      clients[2]!.child.kill('SIGSTOP');

      const beforeKill = await eventually(async () => {
        const rounds = await getRounds(b.url, task.id);
        const second = rounds[1];
        return second && second.participants.length >= 1 ? rounds : undefined;
      }, 'an accepted update in round 2');
      expect([beforeKill[0]!.participants.length, beforeKill[1]!.phase]).to.deep.equal([3, 'training']);
      a.child.kill('SIGKILL');
      await a.exited;
      clients[2]!.child.kill('SIGCONT');

      expect(await Promise.all(clients.map((client) => client.exited))).to.deep.equal([0, 0, 0]);
      await withLogs(() => expectCompletedIntact(b.url, task.id, beforeKill));
    } finally {
      await balancer.close();
    }
  });
});
