import { expect } from 'chai';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runClient } from '../../client/client.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { smallTask, writeShards, dataRoot } from '../helpers/fixtures.js';
import { spawnClient } from '../helpers/processes.js';
import { createTask, getRounds } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { acceptTerms } from '../helpers/raw-client.js';
import { startTestCoordinator } from '../helpers/servers.js';

const seconds = (from: string, to: string | null): number => (Date.parse(to!) - Date.parse(from)) / 1000;

describe('clients that drop out', function () {
  const dir = tempDir();
  let coordinator: RunningCoordinator;
  let shards: string[];

  before(async () => {
    coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'coordinator') });
    shards = writeShards(dir, [300, 300]);
  });
  after(() => coordinator.close());

  it('drops a client killed mid-round and takes it back when it rejoins', async () => {
    const task = await createTask(
      coordinator.url,
      // A deadline no test waits for: the round can only close once nobody it waits for is left, which needs the
      // killed client dropped from it.
      smallTask({ rounds: 1, clientsPerRound: { min: 2, target: 3 }, roundDeadlineSeconds: 3600 }),
    );
    const key = join(dir, 'killed.json');
    const victim = spawnClient(coordinator.url, task.id, shards[0]!, key);
    await victim.waitFor((event) => event.type === 'round:start');
    victim.child.kill('SIGKILL');
    await victim.exited;

    const rejoined = spawnClient(coordinator.url, task.id, shards[0]!, key);
    const ready = await rejoined.waitFor((event) => event.type === 'ready');
    const other = await runClient({
      ...acceptTerms,
      coordinatorUrl: coordinator.url,
      taskId: task.id,
      dataPath: shards[1]!,
      keyPath: join(dir, 'other.json'),
    });
    expect(await rejoined.exited).to.equal(0);

    const [round] = await getRounds(coordinator.url, task.id);
    expect(round!.participants.map((p) => p.address).sort()).to.deep.equal(
      [(ready as { address: string }).address, other.address].sort(),
    );
    // Sampled: the victim, the same key again once it rejoined, and the other; the victim's first time unanswered.
    expect(round).to.include({ attempts: 1, sampled: 3, answered: 2, dropped: 1 });
  });

  it('closes the round at its deadline instead of waiting for a stalled client', async () => {
    const deadline = 6;
    const task = await createTask(
      coordinator.url,
      smallTask({ rounds: 1, clientsPerRound: { min: 1, target: 2 }, roundDeadlineSeconds: deadline }),
    );
    const stalled = spawnClient(coordinator.url, task.id, shards[0]!, join(dir, 'stalled.json'));
    await stalled.waitFor((event) => event.type === 'round:start');
    stalled.child.kill('SIGSTOP');
    try {
      const other = await runClient({
        ...acceptTerms,
        coordinatorUrl: coordinator.url,
        taskId: task.id,
        dataPath: shards[1]!,
        keyPath: join(dir, 'on-time.json'),
      });
      const [round] = await getRounds(coordinator.url, task.id);
      expect(round!.participants.map((p) => p.address)).to.deep.equal([other.address]);
      expect(round).to.include({ sampled: 2, answered: 1, dropped: 1 });
      // Not before the deadline: the stalled client was still awaited until then (timers never fire early).
      expect(seconds(round!.openedAt, round!.closedAt)).to.be.at.least(deadline - 0.5);
    } finally {
      stalled.child.kill('SIGKILL');
    }
  });

  it('gives the round to a second client started with the same key, and tells the first why it stopped', async () => {
    const task = await createTask(coordinator.url, smallTask({ rounds: 2, clientsPerRound: { min: 1, target: 1 } }));
    const key = join(dir, 'shared.json');
    const first = spawnClient(coordinator.url, task.id, shards[0]!, key);
    await first.waitFor((event) => event.type === 'round:start');
    // Held until the second has joined: otherwise the first may send its update before, and keep round 1.
    first.child.kill('SIGSTOP');
    const second = spawnClient(coordinator.url, task.id, shards[1]!, key);
    await second.waitFor((event) => event.type === 'round:start');
    first.child.kill('SIGCONT');
    expect(await first.exited).to.equal(1);
    expect(first.stderr.join('\n')).to.match(/SUPERSEDED: another connection signed in as 0x[0-9a-fA-F]{40} joined/);
    expect(await second.exited).to.equal(0);
    const summary = second.events.at(-1) as unknown as { type: string; status: string; roundsContributed: number };
    expect([summary.type, summary.status, summary.roundsContributed]).to.deep.equal(['summary', 'completed', 2]);
    const rounds = await getRounds(coordinator.url, task.id);
    expect(rounds.map((round) => [round.participants.length, round.rejected.length])).to.deep.equal([
      [1, 0],
      [1, 0],
    ]);
  });

  it('reports a task that failed while the client was away as failed, with exit code 1', async () => {
    const root = join(dir, 'root');
    mkdirSync(root);
    writeFileSync(join(root, 'eval.csv'), '1,2,0\n3,4,1\n');
    const dataDir = join(dir, 'failing');
    let failing = await startTestCoordinator({ port: 0, dataDir, dataRoot: root });
    const tiny = { model: { preset: 'mlp' as const, hidden: [] }, inputShape: [2], proofs: false, classes: 2 };
    const task = await createTask(failing.url, smallTask({ ...tiny, evaluation: { path: 'eval.csv' } }));
    await failing.close();
    // Its evaluation set is gone when the coordinator starts again: the task cannot resume and is marked failed.
    rmSync(join(root, 'eval.csv'));
    failing = await startTestCoordinator({ port: 0, dataDir, dataRoot: root });
    try {
      writeFileSync(join(dir, 'two.csv'), '1,2,0\n3,4,1\n');
      const client = spawnClient(failing.url, task.id, join(dir, 'two.csv'), join(dir, 'late.json'));
      expect(await client.exited).to.equal(1);
      expect(client.events.at(-1)).to.deep.include({ type: 'summary', status: 'failed', roundsContributed: 0 });
    } finally {
      await failing.close();
    }
  });
});
