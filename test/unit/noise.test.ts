import { expect } from 'chai';
import type * as tf from '@tensorflow/tfjs';
import { Random } from '../../common/random.js';
import { initBackend } from '../../ml/backend.js';
import type { Dataset } from '../../ml/dataset.js';
import { buildModel } from '../../ml/models.js';
import {
  classGradientBasis,
  isNoise,
  noiseFloor,
  noiseGroups,
  roundSignal,
  spanShare,
  supportsVerdict,
} from '../../ml/noise.js';
import type { WeightedUpdate } from '../../ml/replicas.js';
import { trainLocal } from '../../ml/train.js';
import { getFlatWeights, setFlatWeights } from '../../ml/weights.js';
import { trainingSchema } from '../../protocol/task-spec.js';

/** `count` unit vectors of `size` Gaussian values each, orthonormalised (a random m-dimensional span). */
function randomBasis(count: number, size: number, random: Random): Float64Array[] {
  const basis: Float64Array[] = [];
  for (let k = 0; k < count; k++) {
    const vector = Float64Array.from({ length: size }, () => random.normal());
    for (const unit of basis) {
      const along = vector.reduce((sum, value, i) => sum + value * unit[i]!, 0);
      unit.forEach((value, i) => (vector[i]! -= along * value));
    }
    const length = Math.hypot(...vector);
    basis.push(vector.map((value) => value / length));
  }
  return basis;
}

const gaussian = (size: number, random: Random): Float64Array =>
  Float64Array.from({ length: size }, () => random.normal());

describe('noise (ml/noise.ts)', () => {
  it("puts the floor where a random direction's share passes it with probability 10^−6 (Laurent–Massart)", () => {
    // √((m + 2√(m·ln 10^6) + 2·ln 10^6) / d) for the demo's CNN: 10 classes, 2,724 parameters.
    expect(noiseFloor(10, 2724)).to.be.closeTo(0.1498, 1e-4);
    // More classes than the model has room for: no floor below 1, and nothing is noise.
    expect(noiseFloor(10, 50)).to.be.greaterThan(1);
    expect(isNoise({ floor: noiseFloor(10, 50), shares: [0.01] }, 0)).to.equal(false);
  });

  it('measures the share of a term in the span: 1 inside, 0 orthogonal, 0 for a zero term', () => {
    const random = new Random(1);
    const basis = randomBasis(3, 50, random);
    const inside = basis[0]!.map((value, i) => 2 * value - basis[2]![i]!);
    expect(spanShare(basis, inside)).to.be.closeTo(1, 1e-12);
    const outside = gaussian(50, random);
    for (const unit of basis) {
      const along = outside.reduce((sum, value, i) => sum + value * unit[i]!, 0);
      unit.forEach((value, i) => (outside[i]! -= along * value));
    }
    expect(spanShare(basis, outside)).to.be.closeTo(0, 1e-12);
    expect(spanShare(basis, new Float64Array(50))).to.equal(0);
  });

  it("lets the audit accept either verdict within 10^−3 of the floor, and only the test's beyond it", () => {
    const floor = 0.15;
    const signal = { floor, shares: [floor - 9e-4, floor + 9e-4, floor - 2e-3, floor + 2e-3] };
    const verdicts = signal.shares.map((_, g) => [true, false].map((noise) => supportsVerdict(signal, g, noise)));
    expect(verdicts).to.deep.equal([
      [true, true],
      [true, true],
      [true, false],
      [false, true],
    ]);
    // No floor (d not well above m): nothing is noise, however close a share comes.
    expect(supportsVerdict({ floor: 1.0005, shares: [1] }, 0, true)).to.equal(false);
  });

  it('finds every one of 300 random directions noise, their share about √(m/d)', () => {
    const random = new Random(2);
    const [m, d] = [10, 2724];
    const basis = randomBasis(m, d, random);
    const shares = Array.from({ length: 300 }, () => spanShare(basis, gaussian(d, random)));
    const signal = { floor: noiseFloor(m, d), shares };
    expect(noiseGroups(signal)).to.have.length(300);
    const meanSquare = shares.reduce((sum, share) => sum + share * share, 0) / shares.length;
    expect(meanSquare * d).to.be.within(0.8 * m, 1.2 * m);
  });

  describe("on a model's per-class gradients", function () {
    this.timeout(60_000);
    const classes = 10;
    const inputShape = [28, 28, 1];
    const size = 28 * 28;
    let model: tf.LayersModel;
    let global: Float32Array;
    // One bright 7×7 square per class, at its own place, over faint noise.
    const examples = (count: number, labelsOf: (i: number) => number, seed: number): Dataset => {
      const random = new Random(seed);
      const labels = Int32Array.from({ length: count }, (_, i) => labelsOf(i));
      const features = new Float32Array(count * size);
      labels.forEach((label, i) => {
        for (let p = 0; p < size; p++) features[i * size + p] = 0.2 * random.next();
        const [row, column] = [7 * Math.floor(label / 4), 7 * (label % 4)];
        for (let r = 0; r < 7; r++) for (let c = 0; c < 7; c++) features[i * size + (row + r) * 28 + column + c] = 1;
      });
      return { features, labels, count, exampleShape: inputShape };
    };
    const scoringSet = examples(200, (i) => i % classes, 1);
    const scoring = { set: scoringSet, inputShape, classes };

    before(async () => {
      await initBackend();
      // The demo's CNN: 2,724 parameters.
      model = await buildModel({ preset: 'cnn', filters: [4, 10], hidden: [] }, inputShape, classes, 1);
      global = getFlatWeights(model);
    });
    after(() => model.dispose());

    /** What a holder with `data` sends: one local epoch from `global`, as a client trains. */
    async function trained(data: Dataset): Promise<Float32Array> {
      setFlatWeights(model, global);
      const training = trainingSchema.parse({ localEpochs: 1, batchSize: 32, learningRate: 0.05 });
      await trainLocal(model, data, training, { inputShape, classes, seed: 3 });
      return getFlatWeights(model).map((w, i) => w - global[i]!);
    }

    /** `delta` as a quantized update at scale 2^−12 in its one chunk. */
    const asUpdate = (delta: ArrayLike<number>): WeightedUpdate => ({
      q: Int32Array.from(delta, (value) => Math.round(value * 4096)),
      fractionBits: [12],
      weight: 1,
    });

    it('spans one direction per class present', () => {
      expect(classGradientBasis(model, global, scoringSet, inputShape, classes)).to.have.length(classes);
      const twoClasses = examples(40, (i) => i % 2, 2);
      expect(classGradientBasis(model, global, twoClasses, inputShape, classes)).to.have.length(2);
    });

    it('passes trained updates, balanced and label-skewed, and finds noise at their length noise', async () => {
      const balanced = await trained(examples(300, (i) => i % classes, 4));
      const skewed = await trained(examples(300, (i) => (i % 3 === 0 ? 7 : 2), 5));
      const random = new Random(6);
      const length = Math.hypot(...balanced);
      const raw = gaussian(global.length, random);
      const noise = raw.map((value) => (value * length) / Math.hypot(...raw));
      const updates = [balanced, skewed, noise, balanced].map(asUpdate);
      // The two copies of the balanced update are one group, as the replica rule would make them.
      const groups = [[0, 3], [1], [2]];
      const signal = roundSignal(model, global, { updates, groups, chunkSize: global.length }, scoring);
      expect(signal.floor).to.be.closeTo(noiseFloor(classes, global.length), 1e-12);
      expect(signal.shares[0]).to.be.greaterThan(3 * signal.floor);
      expect(signal.shares[1]).to.be.greaterThan(3 * signal.floor);
      expect(signal.shares[2]).to.be.lessThan(signal.floor);
      expect(noiseGroups(signal)).to.deep.equal([2]);
    });
  });
});
