import { expect } from 'chai';
import { Random } from '../../common/random.js';
import { rewardAmounts, type Scored, taskAmounts } from '../../protocol/reward-rule.js';

const pool = 1000n;
const overTask = { baseShareBps: 0, valueOver: 'task' } as const;
const round = (scores: Record<string, number>): Scored[] =>
  Object.entries(scores).map(([address, score]) => ({ address, score }));

describe('the reward rule over the task (protocol/reward-rule.ts, valueOver task)', () => {
  it("pays a task's first round, and every round of a per-round task, as rewardAmounts does", () => {
    const rounds = [round({ a: 3, b: 1, c: -2 }), round({ a: 0.5, b: 2 })];
    const perRound = rounds.map((scored) =>
      rewardAmounts(
        scored.map(({ score }) => score),
        pool,
        { baseShareBps: 0 },
      ),
    );
    expect(taskAmounts(rounds, pool, { baseShareBps: 0 })).to.deep.equal(perRound);
    expect(taskAmounts(rounds, pool, overTask)[0]).to.deep.equal(perRound[0]);
  });

  it('moves little pay in a round that gained little, where a per-round split hands its whole pool to thin scores', () => {
    const rounds = [round({ a: 3, b: 1 }), round({ a: 0.001, b: 0.003 })];
    expect(taskAmounts(rounds, pool, { baseShareBps: 0 })[1]).to.deep.equal([250n, 750n]);
    // a is owed 2000·3.001/4.004 = 1499 of both rounds and was paid 750; b 500 and was paid 250.
    expect(taskAmounts(rounds, pool, overTask)[1]).to.deep.equal([749n, 250n]);
  });

  it('carries the pool of a round that gained nothing to the next, paying only the base meanwhile', () => {
    const rounds = [round({ a: 3, b: 1 }), round({ a: 0, b: -1 }), round({ a: 1, b: 1 })];
    const withBase = taskAmounts(rounds, pool, { ...overTask, baseShareBps: 1000 });
    expect(withBase[1]).to.deep.equal([50n, 50n]);
    const amounts = taskAmounts(rounds, pool, overTask);
    expect(amounts[1]).to.deep.equal([0n, 0n]);
    // The three value parts (3000) by summed values 4 : 2, less rounds 1's 750 and 250: round 3 pays 2000.
    expect(amounts[2]).to.deep.equal([1250n, 750n]);
  });

  it('never takes back what it paid: an early share above the final one is kept, and the rest is scaled to fit', () => {
    // a took round 1's pool alone; b's later value entitles it to 1800 of 2000, but only 1000 is left unpaid.
    const amounts = taskAmounts([round({ a: 1 }), round({ a: 0, b: 9 })], pool, overTask);
    expect(amounts).to.deep.equal([[1000n], [0n, 1000n]]);
  });

  it('pays early value out of later pools: a barely positive update collects its share (the limit SECURITY names)', () => {
    const rounds = [round({ a: 9, b: 1 }), round({ a: 1e-6, b: 1 })];
    // Per round, b's real work takes round 2's pool; over the task a's round-1 value is owed 2000·9/11 of both.
    expect(taskAmounts(rounds, pool, { baseShareBps: 0 })[1]).to.deep.equal([0n, 999n]);
    expect(taskAmounts(rounds, pool, overTask)[1]).to.deep.equal([736n, 263n]);
  });

  it('pays a score ≤ 0 only the base and never more than the pools of the rounds so far', () => {
    const random = new Random(11);
    for (let trial = 0; trial < 200; trial++) {
      const rule = { ...overTask, baseShareBps: random.int(3) * 2500 };
      const keys = Array.from({ length: 2 + random.int(5) }, (_, k) => `k${k}`);
      const rounds = Array.from({ length: 1 + random.int(6) }, () =>
        keys.filter(() => random.next() < 0.7).map((address) => ({ address, score: random.normal() })),
      );
      const amounts = taskAmounts(rounds, pool, rule);
      let paid = 0n;
      rounds.forEach((scored, r) => {
        const base = scored.length === 0 ? 0n : (pool * BigInt(rule.baseShareBps)) / 10_000n / BigInt(scored.length);
        scored.forEach(({ score }, k) => {
          if (score <= 0) expect(amounts[r]![k]).to.equal(base);
          else expect(amounts[r]![k]! >= base).to.equal(true);
        });
        paid += amounts[r]!.reduce((sum, amount) => sum + amount, 0n);
        expect(paid <= pool * BigInt(r + 1), `trial ${trial} round ${r + 1}: ${paid}`).to.equal(true);
      });
    }
  });
});
