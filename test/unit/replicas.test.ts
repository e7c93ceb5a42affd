import { expect } from 'chai';
import { Random } from '../../common/random.js';
import { RunningSum } from '../../ml/aggregation.js';
import { initBackend } from '../../ml/backend.js';
import type { Dataset } from '../../ml/dataset.js';
import { buildModel } from '../../ml/models.js';
import { trustOf } from '../../ml/fltrust.js';
import { aggregateStep, groupedSum, groupTerms, replicaGroups, type WeightedUpdate } from '../../ml/replicas.js';
import { defaultScoringOptions, scoreRound } from '../../ml/scoring.js';
import { evaluate, trainLocal } from '../../ml/train.js';
import { getFlatWeights, setFlatWeights } from '../../ml/weights.js';
import { trainingSchema } from '../../protocol/task-spec.js';

const chunkSize = 8;

/** An update of `values` (quantized at scale 2^−4 in every chunk), weighing 1. */
const update = (values: number[]): WeightedUpdate => ({
  q: Int32Array.from(values),
  fractionBits: Array<number>(Math.ceil(values.length / chunkSize)).fill(4),
  weight: 1,
});

/** `length` values drawn from `seed`, in [−20, 20]. */
const randomValues = (length: number, seed: number): number[] => {
  const random = new Random(seed);
  return Array.from({ length }, () => random.int(41) - 20);
};

/** `values` with each moved by −1, 0 or +1 (a relative nudge of a few per cent). */
const nudged = (values: number[], seed: number): number[] => {
  const random = new Random(seed);
  return values.map((value) => value + random.int(3) - 1);
};

describe('replicas (ml/replicas.ts)', () => {
  const a = randomValues(32, 1);
  const b = randomValues(32, 2);

  it('groups copies and near-copies of an update, and keeps distinct updates apart', () => {
    const updates = [a, b, a, nudged(a, 3), nudged(b, 4)].map(update);
    expect(replicaGroups(updates, chunkSize, 0.25)).to.deep.equal([
      [0, 2, 3],
      [1, 4],
    ]);
  });

  it('groups nothing at distance 0, and two zero updates together at any other', () => {
    expect(replicaGroups([a, a].map(update), chunkSize, 0)).to.deep.equal([[0], [1]]);
    const zero = Array<number>(32).fill(0);
    expect(replicaGroups([zero, zero, a].map(update), chunkSize, 0.25)).to.deep.equal([[0, 1], [2]]);
  });

  it('lets no chain of near-copies join two distinct updates (complete linkage)', () => {
    // Each step moves a fifth of the way from a to b: neighbours are replicas, the ends are not.
    const chain = Array.from({ length: 6 }, (_, step) => a.map((value, i) => value + ((b[i]! - value) * step) / 5));
    const groups = replicaGroups(chain.map(update), chunkSize, 0.3);
    expect(groups.length).to.be.greaterThan(1);
    expect(groups.some((members) => members.includes(0) && members.includes(5))).to.equal(false);
  });

  it('sums updates alone exactly as the plain running sum does, and a group once', () => {
    const updates = [a, b, nudged(a, 5)].map(update);
    const plain = RunningSum.empty(32);
    for (const each of updates) plain.add(each.q, each.weight, each.fractionBits, chunkSize);
    const alone = groupedSum(updates, [[0], [1], [2]], chunkSize, 32);
    expect([...alone.mean()]).to.deep.equal([...plain.mean()]);
    // Copies of a count as one a: the mean is that of a and b alone.
    const copies = [a, b, a, a].map(update);
    const once = groupedSum(copies, replicaGroups(copies, chunkSize, 0.25), chunkSize, 32);
    const ab = groupedSum(copies.slice(0, 2), [[0], [1]], chunkSize, 32);
    // (A third of a, three times, is a up to rounding.)
    once.mean().forEach((value, i) => expect(value).to.be.closeTo(ab.mean()[i]!, 1e-12));
  });

  describe('in scoring', () => {
    // A model of 4 features, 2 classes, and a scoring set it can learn.
    const scoringSet: Dataset = (() => {
      const count = 64;
      const features = Float32Array.from({ length: count * 4 }, (_, i) => Math.sin(i * 12.9898) * 2);
      const labels = Int32Array.from({ length: count }, (_, row) => (features[row * 4]! > 0 ? 1 : 0));
      return { features, labels, count, exampleShape: [4] };
    })();

    before(() => initBackend());

    it('pays copies under many keys together what one earns alone, and every other update the same', async () => {
      const model = await buildModel({ preset: 'mlp', hidden: [] }, [4], 2, 1);
      const global = getFlatWeights(model);
      // Three distinct helpful updates of the 10 weights: the step training takes, each with noise of its own.
      await trainLocal(model, scoringSet, trainingSchema.parse({ localEpochs: 5, learningRate: 0.2 }), {
        inputShape: [4],
        classes: 2,
        seed: 1,
      });
      const step = getFlatWeights(model).map((w, i) => w - global[i]!);
      const distinct = [1, 2, 3].map((seed) => {
        const random = new Random(seed);
        return update([...step].map((value) => Math.round((value + 0.5 * random.normal()) * 16)));
      });
      const score = async (updates: WeightedUpdate[], distance = 0.25): Promise<number[]> => {
        const groups = replicaGroups(updates, chunkSize, distance);
        const options = { ...defaultScoringOptions, seed: 1 };
        const common = { model, global, chunkSize, scoringSet, inputShape: [4], classes: 2, options };
        return (await scoreRound({ ...common, updates, groups })).scores;
      };
      const alone = await score(distinct);
      const copied = await score([...distinct, distinct[2]!, distinct[2]!]);
      [0, 1].forEach((k) => expect(copied[k]).to.be.closeTo(alone[k]!, 1e-12));
      expect(copied[2]! + copied[3]! + copied[4]!).to.be.closeTo(alone[2]!, 1e-12);
      expect(copied[3]).to.equal(copied[2]);
      // Each alone, the three copies would have earned more than the one.
      const ungrouped = await score([...distinct, distinct[2]!, distinct[2]!], 0);
      expect(alone[2]).to.be.greaterThan(0);
      expect(ungrouped[2]! + ungrouped[3]! + ungrouped[4]!).to.be.greaterThan(1.5 * alone[2]!);
      model.dispose();
    });

    describe('only contributors (aggregation.contributorsOnly)', () => {
      let model: Awaited<ReturnType<typeof buildModel>>;
      let global: Float32Array;
      let helpful: WeightedUpdate[];
      let step: Float32Array;
      before(async () => {
        model = await buildModel({ preset: 'mlp', hidden: [] }, [4], 2, 1);
        global = getFlatWeights(model);
        await trainLocal(model, scoringSet, trainingSchema.parse({ localEpochs: 5, learningRate: 0.2 }), {
          inputShape: [4],
          classes: 2,
          seed: 1,
        });
        step = getFlatWeights(model).map((w, i) => w - global[i]!);
        helpful = [1, 2].map((seed) => {
          const random = new Random(seed);
          return update([...step].map((value) => Math.round((value + 0.3 * random.normal()) * 16)));
        });
      });
      after(() => model.dispose());

      const score = (updates: WeightedUpdate[], previousStep?: Float32Array) => {
        const options = { ...defaultScoringOptions, seed: 1 };
        const common = { model, global, chunkSize, scoringSet, inputShape: [4], classes: 2, options };
        const contributorsOnly = { replayDistance: 0.25, ...(previousStep ? { previousStep } : {}) };
        return scoreRound({ ...common, updates, contributorsOnly });
      };
      const zero = update(Array<number>(10).fill(0));

      it('leaves a zero update out, and scores the others as if it had not come', async () => {
        const without = await score(helpful);
        const withZero = await score([helpful[0]!, zero, helpful[1]!]);
        expect(withZero.leftOut).to.deep.equal([{ index: 1, why: 'no value' }]);
        expect(withZero.scores[1]).to.equal(0);
        expect([withZero.scores[0], withZero.scores[2]]).to.deep.equal(without.scores);
        expect(without.leftOut).to.deep.equal([]);
      });

      it('leaves out, before the game, the groups the noise test names, and scores the others as without them', async () => {
        const options = { ...defaultScoringOptions, seed: 1 };
        const common = { model, global, chunkSize, scoringSet, inputShape: [4], classes: 2, options };
        const noisy = [helpful[0]!, update(randomValues(10, 9)), helpful[1]!];
        const scored = await scoreRound({
          ...common,
          updates: noisy,
          contributorsOnly: { replayDistance: 0.25, noise: [1] },
        });
        expect(scored.leftOut).to.deep.equal([{ index: 1, why: 'noise' }]);
        expect([scored.scores[0], scored.scores[2]]).to.deep.equal((await score(helpful)).scores);
      });

      it('leaves a harmful update out, scoring it 0 instead of a negative value', async () => {
        const harmful = update(Array.from(helpful[0]!.q, (value) => -2 * value));
        const scored = await score([...helpful, harmful]);
        expect(scored.leftOut).to.deep.equal([{ index: 2, why: 'no value' }]);
        expect(scored.scores[2]).to.equal(0);
        expect(scored.scores.slice(0, 2)).to.deep.equal((await score(helpful)).scores);
      });

      it('never aggregates what its last game found harmful: a lone harmful update is left out, not the whole step', async () => {
        const harmful = (k: number) => update(Array.from(helpful[k]!.q, (value) => -2 * value));
        // One player whose step raises the loss: the round gained nothing, so no game is played again.
        const lone = await score([harmful(0)]);
        expect(lone.leftOut).to.deep.equal([{ index: 0, why: 'no value' }]);
        expect(lone.scores).to.deep.equal([0]);
        const both = await score([harmful(0), harmful(1)]);
        expect(both.leftOut.map(({ index }) => index)).to.deep.equal([0, 1]);
        expect(both.scores).to.deep.equal([0, 0]);
      });

      it("leaves out a replay of the last round's step, however helpful it would be", async () => {
        const replay = update([...step].map((value) => Math.round(value * 16)));
        const scored = await score([...helpful, replay], step);
        expect(scored.leftOut).to.deep.equal([{ index: 2, why: 'replay' }]);
        expect(scored.scores.slice(0, 2)).to.deep.equal((await score(helpful)).scores);
        // Without the last step to compare with (round 1), it is a helpful update like the others.
        expect((await score([...helpful, replay])).scores[2]).to.be.greaterThan(0);
      });

      it("FLTrust's game: an untrusted update earns nothing and moves no one's value; values add to the trusted step's gain", async () => {
        const against = update(Array.from(helpful[0]!.q, (value) => -2 * value));
        const trusted = async (updates: WeightedUpdate[]) => {
          const groups = updates.map((_, k) => [k]);
          const trust = trustOf(groupTerms(updates, groups, chunkSize, 10), step, 2);
          const options = { ...defaultScoringOptions, seed: 1 };
          const common = { model, global, chunkSize, scoringSet, inputShape: [4], classes: 2, options };
          return { trust, scored: await scoreRound({ ...common, updates, groups, trust }) };
        };
        const honest = await trusted(helpful);
        const poisoned = await trusted([...helpful, against]);
        expect(poisoned.trust.weights[2]).to.equal(0);
        expect(poisoned.scored.scores).to.deep.equal([...honest.scored.scores, 0]);
        // The values split what FLTrust's own step gains on the scoring set, not what the mean would.
        const gain = honest.scored.scores[0]! + honest.scored.scores[1]!;
        expect(gain).to.be.closeTo(honest.scored.roundGain, 1e-12);
        const fltrust = { rule: 'fltrust' as const, trim: 0, byzantine: 0, krumSelect: 1 };
        const moved = aggregateStep(helpful, [[0], [1]], new Set(), chunkSize, 10, fltrust, honest.trust);
        setFlatWeights(
          model,
          global.map((w, i) => w + moved[i]!),
        );
        const after = (await evaluate(model, scoringSet, [4], 2)).loss;
        setFlatWeights(model, global);
        const before = (await evaluate(model, scoringSet, [4], 2)).loss;
        expect(before - after).to.be.closeTo(honest.scored.roundGain, 1e-9);
      });

      it('under FLTrust leaves out only zeros and replays: its trust, not a re-game, weighs down the rest', async () => {
        const against = update(Array.from(helpful[0]!.q, (value) => -2 * value));
        const replay = update([...step].map((value) => Math.round(value * 16)));
        const updates = [...helpful, against, zero, replay];
        const groups = updates.map((_, k) => [k]);
        const trust = trustOf(groupTerms(updates, groups, chunkSize, 10), step, 2);
        const options = { ...defaultScoringOptions, seed: 1 };
        const common = { model, global, chunkSize, scoringSet, inputShape: [4], classes: 2, options };
        const contributorsOnly = { replayDistance: 0.25, previousStep: step };
        const scored = await scoreRound({ ...common, updates, groups, trust, contributorsOnly });
        expect(scored.leftOut).to.deep.equal([
          { index: 3, why: 'no value' },
          { index: 4, why: 'replay' },
        ]);
        // The update against the root stays in the aggregate, weighing nothing, and earns nothing.
        expect(scored.scores[2]).to.equal(0);
        expect(scored.scores.slice(0, 2).every((score) => score > 0)).to.equal(true);
      });

      it('in a private task judges each update alone: zeros, replays and noise are left out, and the game leaves no one out', async () => {
        const harmful = update(Array.from(helpful[0]!.q, (value) => -2 * value));
        const replay = update([...step].map((value) => Math.round(value * 16)));
        const updates = [...helpful, harmful, zero, replay, update(randomValues(10, 9))];
        const options = { ...defaultScoringOptions, seed: 1 };
        const common = { model, global, chunkSize, scoringSet, inputShape: [4], classes: 2, options };
        const contributorsOnly = { replayDistance: 0.25, previousStep: step, noise: [5], byScore: false };
        const scored = await scoreRound({ ...common, updates, contributorsOnly });
        expect(scored.leftOut).to.deep.equal([
          { index: 3, why: 'no value' },
          { index: 4, why: 'replay' },
          { index: 5, why: 'noise' },
        ]);
        // Whether the harmful update enters the sum hangs on nothing but itself: it stays, and its value is negative.
        expect(scored.scores[2]).to.be.lessThan(0);
        expect(scored.scores.slice(3)).to.deep.equal([0, 0, 0]);
        // The three left out change no one's value: the game is the one the first three play alone.
        const alone = await scoreRound({ ...common, updates: updates.slice(0, 3), contributorsOnly });
        expect(scored.scores.slice(0, 3)).to.deep.equal(alone.scores);
      });

      it('aggregates only what was kept, each group once, and nothing when nothing was', () => {
        const updates = [helpful[0]!, zero, helpful[0]!, helpful[1]!];
        const groups = replicaGroups(updates, chunkSize, 0.25);
        const kept = aggregateStep(updates, groups, new Set([1]), chunkSize, 10);
        const expected = groupedSum(helpful, [[0], [1]], chunkSize, 10).mean();
        kept.forEach((value, i) => expect(value).to.be.closeTo(expected[i]!, 1e-12));
        expect([...aggregateStep(updates, groups, new Set([0, 1, 2, 3]), chunkSize, 10)]).to.deep.equal(
          Array<number>(10).fill(0),
        );
      });
    });
  });
});
