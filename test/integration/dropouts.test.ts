import { expect } from 'chai';
import { join } from 'node:path';
import { runClient } from '../../client/client.js';
import { type RunningCoordinator, startCoordinator } from '../../coordinator/server.js';
import { smallTask, writeShards, dataRoot } from '../helpers/fixtures.js';
import { spawnClient } from '../helpers/processes.js';
import { createTask, getRounds } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { acceptTerms } from '../helpers/raw-client.js';

const seconds = (from: string, to: string | null): number => (Date.parse(to!) - Date.parse(from)) / 1000;

describe('clients that drop out', function () {
  this.timeout(120_000);
  const dir = tempDir();
  let coordinator: RunningCoordinator;
  let shards: string[];

  before(async () => {
    coordinator = await startCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'coordinator') });
    shards = writeShards(dir, [300, 300]);
  });
  after(() => coordinator.close());

  it('drops a client killed mid-round and takes it back when it rejoins', async () => {
    const task = await createTask(
      coordinator.url,
      smallTask({ rounds: 1, clientsPerRound: { min: 2, target: 3 }, roundDeadlineSeconds: 60 }),
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
    expect(seconds(round!.openedAt, round!.closedAt)).to.be.below(60);
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
      const took = seconds(round!.openedAt, round!.closedAt);
      expect(took).to.be.within(deadline - 0.5, deadline + 5);
    } finally {
      stalled.child.kill('SIGKILL');
    }
  });
});
