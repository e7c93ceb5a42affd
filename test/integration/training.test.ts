import { expect } from 'chai';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { runClient } from '../../client/client.js';
import { type RunningCoordinator, startCoordinator } from '../../coordinator/server.js';
import { getFlatWeights, hashWeights } from '../../ml/weights.js';
import type { TaskView } from '../../protocol/rest.js';
import { smallTask, writeShards } from '../helpers/fixtures.js';
import { createTask, getJson, getRounds, getWeights } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';

describe('federated training end to end', function () {
  this.timeout(180_000);
  const dir = tempDir();
  let coordinator: RunningCoordinator;

  before(async () => {
    coordinator = await startCoordinator({ port: 0, dataDir: join(dir, 'coordinator') });
  });
  after(() => coordinator.close());

  it('completes two rounds with real clients and moves the global model', async () => {
    const shards = writeShards(dir, [600, 600]);
    const task = await createTask(coordinator.url, smallTask({ rounds: 2 }));
    const results = await Promise.all(
      shards.map((dataPath, i) =>
        runClient({ coordinatorUrl: coordinator.url, taskId: task.id, dataPath, keyPath: join(dir, `key-${i}.json`) }),
      ),
    );
    expect(results.map((result) => [result.status, result.roundsContributed])).to.deep.equal([
      ['completed', 2],
      ['completed', 2],
    ]);

    const rounds = await getRounds(coordinator.url, task.id);
    expect(rounds.map((round) => round.phase)).to.deep.equal(['evaluated', 'evaluated']);
    for (const round of rounds) {
      expect(round.participants.map((p) => p.address).sort()).to.deep.equal(results.map((r) => r.address).sort());
      expect(round.participants.every((p) => p.numSamples === 600)).to.equal(true);
      expect(round.rejected).to.deep.equal([]);
      expect(round.modelHashAfter).to.not.equal(round.modelHashBefore);
    }
    expect(rounds[1]!.modelHashBefore).to.equal(rounds[0]!.modelHashAfter);
    // Ten balanced classes: chance is 10 %.
    expect(rounds[1]!.accuracy).to.be.above(0.4);

    const finished = await getJson<TaskView>(`${coordinator.url}/api/tasks/${task.id}`);
    expect(finished.status).to.equal('completed');
    expect(finished.modelHash).to.equal(rounds[1]!.modelHashAfter);
    const initial = await getWeights(coordinator.url, task.id, 0);
    expect(hashWeights(initial)).to.equal(rounds[0]!.modelHashBefore);
  });

  it('serves the trained model in TF.js format', async () => {
    const [task] = await getJson<TaskView[]>(`${coordinator.url}/api/tasks`);
    const model = await tf.loadLayersModel(`${coordinator.url}/api/tasks/${task!.id}/model/latest/model.json`);
    expect(hashWeights(getFlatWeights(model))).to.equal(task!.modelHash);
    const logits = model.predict(tf.zeros([1, 28, 28, 1])) as tf.Tensor;
    expect(logits.shape).to.deep.equal([1, 10]);
    logits.dispose();
    model.dispose();
  });
});
