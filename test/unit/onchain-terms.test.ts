import { expect } from 'chai';
import { fixSettlementTerms } from '../../coordinator/settlement/onchain-terms.js';
import { ZkflError } from '../../common/errors.js';
import { bondsOf, lastOpening, parseTaskSpec, type TaskSpec } from '../../protocol/task-spec.js';

const onchain = (rewards: object = {}): TaskSpec =>
  parseTaskSpec({
    model: { preset: 'mlp', hidden: [] },
    rounds: 3,
    clientsPerRound: { min: 1, target: 1 },
    roundDeadlineSeconds: 100,
    onchain: true,
    evaluation: { path: 'eval.csv' },
    rewards: { perRound: '1000000', challengeWindowSeconds: 60, answerWindowSeconds: 60, ...rewards },
  });

const refusal = (work: () => void): [string, string | undefined] | 'taken' => {
  try {
    work();
    return 'taken';
  } catch (error) {
    return [(error as ZkflError).code, (error as ZkflError).field];
  }
};

describe("an on-chain task's settlement terms", () => {
  const now = 1_800_000_000;

  it('fixes a deadline that leaves every round twice its time, both windows and the claim period', () => {
    const spec = onchain();
    fixSettlementTerms(spec, 1, now);
    expect(spec.rewards.deadline).to.equal(now + 2 * 3 * 100 + 60 + 60 + 3 * 86_400);
    expect(lastOpening(spec.rewards)).to.equal(spec.rewards.deadline! - 60 - 60 - 3 * 86_400);
  });

  it('refuses a deadline too soon, a bond under its floor and more chunks than an answer can verify', () => {
    const tight = now + 3 * 100 + 60 + 60 + 3600;
    expect(
      refusal(() => fixSettlementTerms(onchain({ claimPeriodSeconds: 3600, deadline: tight - 1 }), 1, now)),
    ).to.deep.equal(['VALIDATION_FAILED', 'rewards.deadline']);
    expect(refusal(() => fixSettlementTerms(onchain({ claimPeriodSeconds: 3600, deadline: tight }), 1, now))).to.equal(
      'taken',
    );
    // A thousandth of 1,000,000 per chunk: 64,000 for 64 chunks.
    expect(refusal(() => fixSettlementTerms(onchain({ challengeBond: '63999' }), 64, now))).to.deep.equal([
      'VALIDATION_FAILED',
      'rewards.challengeBond',
    ]);
    expect(refusal(() => fixSettlementTerms(onchain({ challengeBond: '64000' }), 64, now))).to.equal('taken');
    expect(refusal(() => fixSettlementTerms(onchain(), 65, now))).to.deep.equal(['VALIDATION_FAILED', 'model']);
    expect(refusal(() => parseTaskSpec({ ...onchain(), rewards: { claimPeriodSeconds: 3599 } }))).to.deep.equal([
      'VALIDATION_FAILED',
      'rewards.claimPeriodSeconds',
    ]);
  });

  it('defaults the challenge bond to a twentieth of the pool, or its floor when that is more', () => {
    const { rewards } = onchain();
    expect(bondsOf(rewards, 1).challengeBond).to.equal(50_000n);
    expect(bondsOf(rewards, 64).challengeBond).to.equal(64_000n);
  });
});
