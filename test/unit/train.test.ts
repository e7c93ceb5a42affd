import { expect } from 'chai';
import { initBackend } from '../../ml/backend.js';
import type { Dataset } from '../../ml/dataset.js';
import { buildModel } from '../../ml/models.js';
import { evaluate, trainLocal } from '../../ml/train.js';
import { getFlatWeights, setFlatWeights } from '../../ml/weights.js';
import { trainingSchema } from '../../protocol/task-spec.js';
import { ZkflError } from '../../common/errors.js';

// Two separable classes in 4 features: the label is whether feature 0 is positive.
const dataset: Dataset = (() => {
  const count = 256;
  const features = Float32Array.from({ length: count * 4 }, (_, i) => Math.sin(i * 12.9898) * 2);
  const labels = Int32Array.from({ length: count }, (_, row) => (features[row * 4]! > 0 ? 1 : 0));
  return { features, labels, count, exampleShape: [4] };
})();

const options = { inputShape: [4], classes: 2, seed: 1 };

async function distanceTravelled(proximalMu: number): Promise<number> {
  const model = await buildModel({ preset: 'mlp', hidden: [8] }, [4], 2, 3);
  const start = getFlatWeights(model);
  await trainLocal(model, dataset, trainingSchema.parse({ localEpochs: 3, learningRate: 0.2, proximalMu }), options);
  const end = getFlatWeights(model);
  model.dispose();
  return Math.sqrt(end.reduce((sum, value, i) => sum + (value - start[i]!) ** 2, 0));
}

describe('local training', () => {
  before(() => initBackend());

  it('learns a separable problem', async () => {
    const model = await buildModel({ preset: 'mlp', hidden: [8] }, [4], 2, 3);
    const before = await evaluate(model, dataset, [4], 2);
    const result = await trainLocal(
      model,
      dataset,
      trainingSchema.parse({ localEpochs: 5, learningRate: 0.2 }),
      options,
    );
    const after = await evaluate(model, dataset, [4], 2);
    expect(result.numSamples).to.equal(256);
    expect(after.loss).to.be.below(before.loss);
    expect(after.accuracy).to.be.above(0.9);
    model.dispose();
  });

  it('keeps FedProx clients closer to the global model as μ grows', async () => {
    // lr·μ stays below 1 so that the proximal pull itself is a stable step.
    const plain = await distanceTravelled(0);
    const proximal = await distanceTravelled(0.5);
    const strong = await distanceTravelled(2);
    expect(proximal).to.be.below(plain);
    expect(strong).to.be.below(proximal / 2);
  });

  it('round-trips flat weights', async () => {
    const model = await buildModel({ preset: 'cnn', filters: [2], hidden: [] }, [28, 28, 1], 10);
    const flat = getFlatWeights(model).map((_, i) => i / 1000);
    setFlatWeights(model, flat);
    expect(Array.from(getFlatWeights(model))).to.deep.equal(Array.from(flat));
    expect(() => setFlatWeights(model, flat.subarray(1))).to.throw(/expected/);
    model.dispose();
  });

  it('refuses data that does not fit the task', async () => {
    const model = await buildModel({ preset: 'mlp' }, [5], 2);
    const error = await trainLocal(model, dataset, trainingSchema.parse({}), { ...options, inputShape: [5] }).catch(
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ZkflError).with.property('code', 'DATA_MALFORMED');
    const labels = await trainLocal(model, dataset, trainingSchema.parse({}), { ...options, classes: 1 }).catch(
      (e: unknown) => e,
    );
    expect((labels as ZkflError).message).to.match(/label 1 is outside/);
    model.dispose();
  });
});
