import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { runClient } from '../../client/client.js';
import { verificationKeySha256 } from '../../circuits/build.js';
import { fetchCircuit } from '../../circuits/fetch.js';
import { CoordinatorApi } from '../../protocol/api.js';
import { ZkflError } from '../../common/errors.js';

const codeOf = (error: unknown): unknown => (error as ZkflError).code;
import type { RunningCoordinator } from '../../coordinator/server.js';
import { getFlatWeights } from '../../ml/weights.js';
import { hashWeights } from '../../protocol/weights.js';
import type { RoundView, TaskView } from '../../protocol/rest.js';
import { dataRoot, smallTask, testPrefix, writeImageFolder, writeShards } from '../helpers/fixtures.js';
import { loadOrCreateWallet } from '../../common/identity.js';
import { runZkfl } from '../helpers/processes.js';
import { createTask, getRounds, getWeights } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { acceptTerms } from '../helpers/raw-client.js';
import { runClients } from '../helpers/clients.js';
import { startTestCoordinator } from '../helpers/servers.js';

describe('federated training end to end', function () {
  const dir = tempDir();
  let coordinator: RunningCoordinator;

  before(async () => {
    coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'coordinator') });
  });
  after(() => coordinator.close());

  it('completes two rounds with three real clients (one reading a folder of PNGs), every update proven, and moves the model', async () => {
    const shards = writeShards(dir, [600, 600, 600]);
    // The third holder has its examples as images, one folder per class: one task takes both kinds.
    shards[2] = writeImageFolder(shards[2]!, join(dir, 'images'));
    const task = await createTask(coordinator.url, smallTask({ rounds: 2, clientsPerRound: { min: 3, target: 3 } }));
    const keys = shards.map((_, i) => join(dir, `key-${i}.json`));
    const results = await Promise.all(runClients(coordinator.url, task.id, shards, keys));
    expect(results.map((result) => [result.status, result.roundsContributed])).to.deep.equal([
      ['completed', 2],
      ['completed', 2],
      ['completed', 2],
    ]);

    const rounds = await getRounds(coordinator.url, task.id);
    expect(rounds.map((round) => round.phase)).to.deep.equal(['evaluated', 'evaluated']);
    for (const round of rounds) {
      expect(round.participants.map((p) => p.address).sort()).to.deep.equal(results.map((r) => r.address).sort());
      expect(round.participants.map((p) => p.numSamples)).to.deep.equal([600, 600, 600]);
      expect(round.rejected).to.deep.equal([]);
      expect(round.modelHashAfter).to.not.equal(round.modelHashBefore);
    }
    expect(rounds[1]!.modelHashBefore).to.equal(rounds[0]!.modelHashAfter);
    // Ten balanced classes: chance is 10 %.
    expect(rounds[1]!.accuracy).to.be.above(0.3);
    expect(rounds.map((round) => [round.proofsVerified, round.proofsRejected])).to.deep.equal([
      [3, 0],
      [3, 0],
    ]);

    const finished = await new CoordinatorApi(coordinator.url).task(task.id);
    expect(finished.status).to.equal('completed');
    expect(finished.modelHash).to.equal(rounds[1]!.modelHashAfter);
    const initial = await getWeights(coordinator.url, task.id, 0);
    expect(hashWeights(initial)).to.equal(rounds[0]!.modelHashBefore);
  });

  it('serves the trained model in TF.js format', async () => {
    const [task] = await new CoordinatorApi(coordinator.url).tasks();
    const model = await tf.loadLayersModel(
      new CoordinatorApi(coordinator.url).url('modelJson', { id: task!.id, which: 'latest' }),
    );
    expect(hashWeights(getFlatWeights(model))).to.equal(task!.modelHash);
    const logits = model.predict(tf.zeros([1, 28, 28, 1])) as tf.Tensor;
    expect(logits.shape).to.deep.equal([1, 10]);
    logits.dispose();
    model.dispose();
  });

  it('runs FedAdam on the server with FedProx clients', async () => {
    const shards = writeShards(dir, [300, 300]);
    const task = await createTask(
      coordinator.url,
      smallTask({
        aggregation: { strategy: 'fedadam', serverLearningRate: 0.01 },
        training: { proximalMu: 0.1, learningRate: 0.05 },
      }),
    );
    const keys = shards.map((_, i) => join(dir, `adam-${i}.json`));
    const results = await Promise.all(runClients(coordinator.url, task.id, shards, keys));
    expect(results.map((result) => result.roundsContributed)).to.deep.equal([2, 2]);
    const rounds = await getRounds(coordinator.url, task.id);
    expect(rounds.map((round) => round.participants.length)).to.deep.equal([2, 2]);
    // FedAdam's first step, η·m/(√v + τ) = η·|Δ|/(|Δ| + 10τ) from zero moments, moves no weight by more than η = 0.01.
    const [w0, w1] = [await getWeights(coordinator.url, task.id, 0), await getWeights(coordinator.url, task.id, 1)];
    const steps = w1.map((value, i) => Math.abs(value - w0[i]!));
    expect(Math.max(...steps)).to.be.within(0.001, 0.01);
  });

  it("lets a client without the coordinator's keys fetch them, and refuses keys that are not the task's", async () => {
    const [dataPath] = writeShards(dir, [300]);
    const task = await createTask(coordinator.url, smallTask({ rounds: 1, clientsPerRound: { min: 1, target: 1 } }));
    const cache = join(dir, 'fetched-circuits');
    const result = await runClient({
      ...acceptTerms,
      coordinatorUrl: coordinator.url,
      taskId: task.id,
      dataPath: dataPath!,
      keyPath: join(dir, 'remote.json'),
      localCircuit: false,
      circuitCache: cache,
    });
    expect([result.status, result.roundsContributed]).to.deep.equal(['completed', 1]);
    const fetched = await fetchCircuit(new CoordinatorApi(coordinator.url), task, cache);
    expect(fetched.dir.slice(0, cache.length)).to.equal(cache);
    expect(verificationKeySha256(fetched)).to.equal(task.zk.verificationKeySha256);
    // A corrupted cached copy is fetched again, not used.
    writeFileSync(fetched.zkey, 'not a zkey');
    expect(verificationKeySha256(await fetchCircuit(new CoordinatorApi(coordinator.url), task, cache))).to.equal(
      task.zk.verificationKeySha256,
    );
    expect(readFileSync(fetched.zkey).length).to.be.above(1_000_000);
    const otherKeys = { ...task, zk: { ...task.zk, verificationKeySha256: 'f'.repeat(64) } };
    const refused = await fetchCircuit(new CoordinatorApi(coordinator.url), otherKeys, join(dir, 'other')).catch(
      (error: unknown) => error,
    );
    expect(refused).to.be.instanceOf(ZkflError).with.property('code', 'UNAVAILABLE');
    const missing = await new CoordinatorApi(coordinator.url).circuitFile(task.zk.circuit, 'r1cs').catch(codeOf);
    expect(missing).to.equal('NOT_FOUND');
  });

  it('creates, shows and downloads a task from the command line', async () => {
    const config = join(dir, 'task.json');
    writeFileSync(config, JSON.stringify(smallTask({ name: 'from the CLI', rounds: 1 })));
    const ownerKey = join(dir, 'owner.json');
    const at = ['--coordinator', coordinator.url];
    const [created, id] = await runZkfl([
      ...['task', 'create', '--config', config, '--key', ownerKey, '--evaluation', testPrefix, ...at],
    ]);
    expect(created).to.equal(0);
    expect(id).to.match(/^t-[0-9a-f]{12}$/);

    const [shownCode, json] = await runZkfl(['task', 'show', '--task', id, '--json', ...at]);
    expect(shownCode).to.equal(0);
    const shown = JSON.parse(json) as { task: TaskView; rounds: RoundView[] };
    expect([shown.task.spec.name, shown.task.status, shown.rounds.length]).to.deep.equal([
      'from the CLI',
      'running',
      1,
    ]);
    // Signed in as the key's address, the evaluation set uploaded (its first 500 examples used).
    expect(shown.task.spec.owner).to.equal(loadOrCreateWallet(ownerKey).address);
    expect(shown.task.spec.evaluation).to.deep.equal({ upload: shown.task.spec.evaluation.upload, limit: 500 });
    expect(shown.task.spec.evaluation.upload).to.match(/^[0-9a-f]{64}$/);

    const out = join(dir, 'downloaded');
    expect((await runZkfl(['task', 'model', '--task', id, '--round', '0', '--out', out, ...at]))[0]).to.equal(0);
    const weights = readFileSync(join(out, 'weights.bin'));
    expect(hashWeights(new Float32Array(weights.buffer, weights.byteOffset, weights.byteLength / 4))).to.equal(
      shown.task.modelHash,
    );
    const manifest = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as {
      weightsManifest: Array<{ paths: string[] }>;
    };
    expect(manifest.weightsManifest[0]!.paths).to.deep.equal(['weights.bin']);

    const [badCode, , badError] = await runZkfl([
      'task',
      'create',
      '--config',
      join(dir, 'missing.json'),
      '--key',
      ownerKey,
    ]);
    expect(badCode).to.equal(1);
    expect(badError).to.match(/VALIDATION_FAILED: cannot read .*missing\.json/);
    const [unknownCode, , unknownError] = await runZkfl(['task', 'show', '--bogus']);
    expect(unknownCode).to.equal(1);
    expect(unknownError).to.match(/Unknown option '--bogus'/);
  });
});
