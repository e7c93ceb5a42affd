import { expect } from 'chai';
import Database from 'better-sqlite3';
import { CoordinatorApi } from '../../protocol/api.js';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../ml/backend.js';
import { getFlatWeights } from '../../ml/weights.js';
import { hashWeights } from '../../protocol/weights.js';
import { smallTask, writeShards } from '../helpers/fixtures.js';
import { spawnClient, spawnCoordinator } from '../helpers/processes.js';
import { fetchBundle } from '../../verifier/bundle.js';
import { createTask, eventually, getRounds } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';

/** The hash of a task's latest model as a coordinator started on `dataDir` serves it. */
async function servedModelHash(dataDir: string, taskId: string): Promise<string> {
  const coordinator = await spawnCoordinator(dataDir);
  const model = await tf.loadLayersModel(
    new CoordinatorApi(coordinator.url).url('modelJson', { id: taskId, which: 'latest' }),
  );
  try {
    return hashWeights(getFlatWeights(model));
  } finally {
    model.dispose();
  }
}

describe('coordinator restart', function () {
  const dir = tempDir();
  before(() => initBackend());

  it('resumes a task killed mid-round without losing an accepted update or a finished round', async () => {
    const dataDir = join(dir, 'coordinator');
    const first = await spawnCoordinator(dataDir);
    // Two clients; one is frozen once round 1 took its update, so the kill lands in round 2 after exactly one
    // update (the other's) was accepted. The model has 8,806 parameters: three chunks of the 2^15 circuit, so
    // multi-chunk proofs go through a restart too.
    const [quick, frozen] = writeShards(dir, [200, 300]);
    const task = await createTask(
      first.url,
      smallTask({
        model: { preset: 'cnn', filters: [6], hidden: [] },
        rounds: 2,
        clientsPerRound: { min: 2, target: 2 },
        roundDeadlineSeconds: 600,
      }),
    );
    const clients = [
      spawnClient(first.url, task.id, quick!, join(dir, 'quick.json')),
      spawnClient(first.url, task.id, frozen!, join(dir, 'frozen.json')),
    ];
    await clients[1]!.waitFor((event) => event.type === 'submitted' && event.round === 1 && event.accepted);
    clients[1]!.child.kill('SIGSTOP');

    const beforeKill = await eventually(async () => {
      const rounds = await getRounds(first.url, task.id);
      return rounds[1]?.participants.length === 1 ? rounds : undefined;
    }, "the unfrozen client's update in round 2");
    expect(beforeKill[1]!.phase).to.equal('training');
    first.child.kill('SIGKILL');
    await first.exited;
    clients[1]!.child.kill('SIGCONT');

    const second = await spawnCoordinator(dataDir, first.port);
    expect((await new CoordinatorApi(second.url).task(task.id)).currentRound).to.equal(2);
    const resumed = await getRounds(second.url, task.id);
    expect(resumed[0]).to.deep.equal(beforeKill[0]);
    expect(resumed[1]!.participants).to.deep.equal(beforeKill[1]!.participants);

    expect(await Promise.all(clients.map((client) => client.exited))).to.deep.equal([0, 0]);
    const rounds = await getRounds(second.url, task.id);
    expect(rounds.map((round) => round.phase)).to.deep.equal(['evaluated', 'evaluated']);
    expect(rounds.map((round) => round.participants.length)).to.deep.equal([2, 2]);
    // The update accepted before the kill is the one aggregated after it (scored since, with the whole round).
    const { score, amount, ...accepted } = rounds[1]!.participants[0]!;
    expect({ ...accepted, score: null, amount: null }).to.deep.equal(beforeKill[1]!.participants[0]);
    expect([typeof score, typeof amount]).to.deep.equal(['number', 'string']);
    expect(rounds.flatMap((round) => round.rejected)).to.deep.equal([]);
    for (let r = 1; r < rounds.length; r++) expect(rounds[r]!.modelHashBefore).to.equal(rounds[r - 1]!.modelHashAfter);
    const completed = await new CoordinatorApi(second.url).task(task.id);
    expect(completed.status).to.equal('completed');

    // A finished task's model is still served after another restart.
    second.child.kill('SIGKILL');
    await second.exited;
    expect(await servedModelHash(dataDir, task.id)).to.equal(completed.modelHash);
  });

  it('finishes a round killed while aggregating, with the same accepted updates, and goes on', async () => {
    const dataDir = join(dir, 'aggregating');
    const first = await spawnCoordinator(dataDir, 0, ['--log-level', 'info']);
    const shards = writeShards(dir, [300, 300]);
    // Scoring on 5,000 examples and evaluating on 10,000 keep the round aggregating for seconds after it says so.
    const task = await createTask(
      first.url,
      smallTask({
        rounds: 2,
        evaluation: { path: 't10k', limit: 10_000 },
        rewards: { perRound: '1000', scoringExamples: 5000 },
      }),
    );
    const clients = shards.map((shard, i) =>
      spawnClient(first.url, task.id, shard, join(dir, `aggregating-${i}.json`)),
    );
    await first.waitForLine(/round 1 aggregating/);
    first.child.kill('SIGSTOP');
    // What the database holds at the kill: round 1 aggregating, with its accepted updates.
    const db = new Database(join(dataDir, 'coordinator.sqlite'), { readonly: true });
    const phase = db.prepare('SELECT phase FROM rounds WHERE task_id = ? AND round = 1').pluck().get(task.id);
    const accepted = db
      .prepare('SELECT address, commitment FROM updates WHERE task_id = ? AND round = 1 ORDER BY address')
      .raw()
      .all(task.id);
    db.close();
    expect([phase, accepted.length]).to.deep.equal(['aggregating', 2]);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await spawnCoordinator(dataDir, first.port);
    expect(await Promise.all(clients.map((client) => client.exited))).to.deep.equal([0, 0]);
    const rounds = await getRounds(second.url, task.id);
    expect(rounds.map((round) => round.phase)).to.deep.equal(['evaluated', 'evaluated']);
    expect(
      rounds[0]!.participants.map((p) => [p.address, p.commitment]).sort(([a], [b]) => (a! < b! ? -1 : 1)),
    ).to.deep.equal(accepted);
    expect(rounds[1]!.modelHashBefore).to.equal(rounds[0]!.modelHashAfter);
    expect((await new CoordinatorApi(second.url).task(task.id)).status).to.equal('completed');
    second.child.kill('SIGKILL');
    await second.exited;
  });

  it("counts a private round's sampling from before a restart in its q", async () => {
    const dataDir = join(dir, 'private');
    const first = await spawnCoordinator(dataDir, 0, ['--log-level', 'info']);
    // One holder of three a round. Round 2 opens with all three connected, so it asks one of three (q 1/3). The
    // kill lands once a holder has round 2's model: after a restart, holders come back one by one, and a round that
    // forgot its sampling would count only those there when it samples again (q 1 or 1/2).
    const task = await createTask(
      first.url,
      smallTask({
        rounds: 2,
        clientsPerRound: { min: 1, target: 1 },
        proofs: false,
        roundDeadlineSeconds: 240,
        aggregation: { replicaDistance: 0, contributorsOnly: false },
        privacy: { delta: 1e-5, noiseMultiplier: 2, population: 3 },
      }),
    );
    const clients = writeShards(dir, [200, 200, 200]).map((shard, i) =>
      spawnClient(first.url, task.id, shard, join(dir, `private-${i}.json`)),
    );
    // Round 1's holder is held until the other two joined, so that round 2 opens with all three.
    const sampled = await Promise.race(
      clients.map((client) => client.waitFor((event) => event.type === 'round:start').then(() => client)),
    );
    sampled.child.kill('SIGSTOP');
    await Promise.all(clients.map((client) => client.waitFor((event) => event.type === 'joined')));
    sampled.child.kill('SIGCONT');
    await Promise.race(
      clients.map((client) => client.waitFor((event) => event.type === 'round:start' && event.round === 2)),
    );
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await spawnCoordinator(dataDir, first.port);
    await Promise.all(clients.map((client) => client.exited));
    const { rounds } = await fetchBundle(second.url, task.id);
    // Asked before the kill, and perhaps another after it, of the three it could ask.
    const privacy = rounds[1]!.record.privacy!;
    expect(privacy.eligible).to.equal(3);
    expect(privacy.sampled).to.be.oneOf([1, 2]);
    expect(privacy.q).to.equal(privacy.sampled / 3);
    expect((await new CoordinatorApi(second.url).task(task.id)).status).to.equal('completed');
    second.child.kill('SIGKILL');
    await second.exited;
  });
});
