import { expect } from 'chai';
import { Random } from '../../common/random.js';
import { defaultScoringOptions, shapleyScores } from '../../ml/scoring.js';
import { rewardAmounts } from '../../protocol/reward-rule.js';

const additive =
  (worths: number[]) =>
  (members: number[]): Promise<number> =>
    Promise.resolve(members.reduce((sum, k) => sum + worths[k]!, 0));

describe('contribution scores (ml/scoring.ts)', () => {
  it('gives each player of an additive game its own worth, exactly and by sampling', async () => {
    const worths = [0.3, 0.1, 0, -0.05, 0.2];
    const exact = await shapleyScores(5, additive(worths), { ...defaultScoringOptions, seed: 1 });
    expect(exact.method).to.equal('exact');
    exact.scores.forEach((score, k) => expect(score).to.be.closeTo(worths[k]!, 1e-12));
    const sampled = await shapleyScores(5, additive(worths), { ...defaultScoringOptions, exactUpTo: 0, seed: 1 });
    expect(sampled.method).to.equal('gtg-shapley');
    sampled.scores.forEach((score, k) => expect(score).to.be.closeTo(worths[k]!, 1e-12));
  });

  it('is efficient, symmetric and gives a player who adds nothing zero', async () => {
    // Worth: diminishing returns on the two equal players 0 and 1, player 2 adds nothing, player 3 harms.
    const worth = (members: number[]): Promise<number> => {
      const good = members.filter((k) => k <= 1).length;
      return Promise.resolve(Math.sqrt(good) - (members.includes(3) ? 0.4 : 0));
    };
    const { scores, roundGain, evaluations } = await shapleyScores(4, worth, { ...defaultScoringOptions, seed: 1 });
    expect(evaluations).to.equal(16);
    expect(scores.reduce((a, b) => a + b, 0)).to.be.closeTo(roundGain, 1e-12);
    expect(scores[0]).to.be.closeTo(scores[1]!, 1e-12);
    expect(scores[2]).to.be.closeTo(0, 1e-12);
    expect(scores[3]).to.be.closeTo(-0.4, 1e-12);
  });

  it('samples a larger game close to its exact values, deterministically for a seed', async () => {
    const random = new Random(5);
    const weights = Array.from({ length: 9 }, () => random.next());
    // A non-additive game: the square root of the members' total weight.
    const worth = (members: number[]): Promise<number> =>
      Promise.resolve(Math.sqrt(members.reduce((sum, k) => sum + weights[k]!, 0)));
    const exact = await shapleyScores(9, worth, { ...defaultScoringOptions, exactUpTo: 9, seed: 1 });
    const options = { ...defaultScoringOptions, exactUpTo: 0, seed: 7, tolerance: 0.001, maxPermutations: 2000 };
    const sampled = await shapleyScores(9, worth, options);
    const again = await shapleyScores(9, worth, options);
    expect(again.scores).to.deep.equal(sampled.scores);
    sampled.scores.forEach((score, k) => expect(score).to.be.closeTo(exact.scores[k]!, 0.02 * exact.roundGain));
    expect(sampled.evaluations).to.be.below(2 ** 9);
  });

  it('spends at most its evaluation budget on a large round, and still ranks clear contributors', async () => {
    const worths = Array.from({ length: 60 }, (_, k) => (k < 5 ? 1 : 0.01));
    const scored = await shapleyScores(60, additive(worths), {
      ...defaultScoringOptions,
      maxEvaluations: 500,
      seed: 2,
    });
    expect(scored.evaluations).to.be.at.most(500);
    expect(Math.min(...scored.scores.slice(0, 5))).to.be.above(Math.max(...scored.scores.slice(5)));
  });

  it('scores a round that gained nothing zero without sampling it', async () => {
    const flat = await shapleyScores(8, () => Promise.resolve(1), { ...defaultScoringOptions, seed: 1 });
    expect(flat.scores).to.deep.equal(new Array(8).fill(0));
    expect(flat.evaluations).to.equal(2);
  });

  it('splits a pool into an equal base and shares proportional to positive scores, never more than the pool', () => {
    const pool = 1_000_000n;
    expect(rewardAmounts([3, 1, 0, -2], pool, { baseShareBps: 0 })).to.deep.equal([750_000n, 250_000n, 0n, 0n]);
    expect(rewardAmounts([3, 1, 0, -2], pool, { baseShareBps: 2000 })).to.deep.equal([
      50_000n + 600_000n,
      50_000n + 200_000n,
      50_000n,
      50_000n,
    ]);
    // Nobody added value: only the base is paid.
    expect(rewardAmounts([0, -1], pool, { baseShareBps: 1000 })).to.deep.equal([50_000n, 50_000n]);
    const random = new Random(3);
    for (let trial = 0; trial < 100; trial++) {
      const scores = Array.from({ length: 1 + random.int(20) }, () => random.normal());
      const amounts = rewardAmounts(scores, 10n ** 20n + BigInt(random.int(1000)), {
        baseShareBps: random.int(10_001),
      });
      const paid = amounts.reduce((a, b) => a + b, 0n);
      expect(paid <= 10n ** 20n + 1000n, `paid ${paid}`).to.equal(true);
    }
    expect(rewardAmounts([], pool, { baseShareBps: 0 })).to.deep.equal([]);
  });
});
