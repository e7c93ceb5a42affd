import { expect } from 'chai';
import type { AuditBundle } from '../../protocol/audit.js';
import { taskAmounts } from '../../protocol/reward-rule.js';
import { auditBundle } from '../../verifier/audit.js';
import { bundleShapeProblem } from '../../verifier/bundle-shape.js';

const holder = '0x' + '11'.repeat(20);
const coordinator = '0x' + '22'.repeat(20);

/** The smallest bundle of one round with one accepted update: well-formed, whatever its checks would find. */
function wellFormed(): AuditBundle {
  const accepted = {
    address: holder,
    numSamples: 10,
    commitment: '0x' + '33'.repeat(32),
    fractionBits: [7],
    proofs: [
      {
        proof: {
          pi_a: ['1', '2', '1'],
          pi_b: [
            ['1', '2'],
            ['3', '4'],
            ['1', '0'],
          ],
          pi_c: ['5', '6', '1'],
        },
        publicSignals: ['7'],
      },
    ],
    score: 0.25,
    amount: '1000',
    update: { q: 'AAEC', salt: '9' },
  };
  const record = {
    taskId: 't-1',
    round: 1,
    coordinator,
    modelHashBefore: 'aa'.repeat(32),
    modelHashAfter: 'bb'.repeat(32),
    accuracy: 0.5,
    loss: 1.5,
    acceptedRoot: '0x' + '44'.repeat(32),
    accepted: [accepted],
    scoring: { method: 'exact', evaluations: 2, seconds: 0.1, roundGain: 0.25, examples: 500, pool: '1000' },
    rejected: [],
    rejectedUnlisted: 0,
  };
  return {
    task: {
      id: 't-1',
      status: 'completed',
      modelHash: 'bb'.repeat(32),
      spec: { rounds: 1, proofs: true, publicAudit: true, rewards: { perRound: '1000', baseShareBps: 0 } },
      zk: { chunks: 1, verificationKeySha256: null },
    },
    verificationKey: null,
    coordinator,
    chain: null,
    rounds: [{ record, signature: '0x' }],
    initialWeights: 'AAAAAA==',
    terms: { terms: { purpose: 'test' }, termsHash: '0x' + '55'.repeat(32) },
    consents: [
      { address: holder, taskKey: '0x' + '66'.repeat(32), termsHash: '0x' + '55'.repeat(32), signature: '0x' },
    ],
  } as unknown as AuditBundle;
}

/** A well-formed bundle changed by `edit`. */
function changed(edit: (bundle: AuditBundle) => void): AuditBundle {
  const bundle = wellFormed();
  edit(bundle);
  return bundle;
}
const firstUpdate = (bundle: AuditBundle) => bundle.rounds[0]!.record.accepted[0]!;

describe('the shape of an audit bundle (verifier/bundle-shape.ts)', () => {
  it('takes a well-formed bundle, with fields it does not know', () => {
    expect(bundleShapeProblem(wellFormed())).to.equal(undefined);
    expect(bundleShapeProblem(changed((bundle) => Object.assign(bundle, { later: 1 })))).to.equal(undefined);
  });

  it('names a score past what the reward rule can take, which would otherwise break the split', () => {
    const huge = changed((bundle) => void (firstUpdate(bundle).score = 1e300));
    expect(bundleShapeProblem(huge)).to.deep.include({ round: 1 });
    expect(bundleShapeProblem(huge)!.detail).to.match(/^rounds\.0\.record\.accepted\.0\.score: not a score/);
    expect(() => taskAmounts([[{ address: holder, score: 1e300 }]], 1000n, { baseShareBps: 0 })).to.throw(RangeError);
  });

  it('names amounts, pools and field elements that are not unsigned decimals', () => {
    const cases: Array<[(bundle: AuditBundle) => void, string]> = [
      [(bundle) => void (firstUpdate(bundle).amount = '1e3'), 'rounds.0.record.accepted.0.amount'],
      [(bundle) => void (firstUpdate(bundle).amount = '-1'), 'rounds.0.record.accepted.0.amount'],
      [(bundle) => void (bundle.rounds[0]!.record.scoring.pool = ''), 'rounds.0.record.scoring.pool'],
      [(bundle) => void (bundle.task.spec.rewards.perRound = '0x10'), 'task.spec.rewards.perRound'],
      [
        (bundle) => void (firstUpdate(bundle).proofs[0]!.proof.pi_a[0] = 'x'),
        'rounds.0.record.accepted.0.proofs.0.proof.pi_a.0',
      ],
      [
        (bundle) => void (firstUpdate(bundle).proofs[0]!.publicSignals[0] = '1.5'),
        'rounds.0.record.accepted.0.proofs.0.publicSignals.0',
      ],
    ];
    for (const [edit, field] of cases)
      expect(bundleShapeProblem(changed(edit))!.detail).to.match(new RegExp(`^${field}: `));
  });

  it('names addresses that are not, a checksum that does not hold among them, and encodings that are not base64', () => {
    const mixedCase = '0x' + 'aB'.repeat(20);
    const cases: Array<[(bundle: AuditBundle) => void, string]> = [
      [(bundle) => void (firstUpdate(bundle).address = 'holder'), 'rounds.0.record.accepted.0.address'],
      [(bundle) => void (bundle.coordinator = mixedCase), 'coordinator'],
      [(bundle) => void (bundle.consents[0]!.address = '0x12'), 'consents.0.address'],
      [(bundle) => void (firstUpdate(bundle).update!.q = 'not base64!'), 'rounds.0.record.accepted.0.update.q'],
      [(bundle) => void (bundle.initialWeights = '%%'), 'initialWeights'],
    ];
    for (const [edit, field] of cases)
      expect(bundleShapeProblem(changed(edit))!.detail).to.match(new RegExp(`^${field}: `));
  });

  it("names what is missing or not a list, and anything that is not a bundle at all, as the task's", () => {
    expect(
      bundleShapeProblem(changed((bundle) => void delete (bundle as Partial<AuditBundle>).rounds)),
    ).to.deep.include({
      round: null,
    });
    const noRecord = changed((bundle) => void delete (bundle.rounds[0] as Partial<AuditBundle['rounds'][0]>).record);
    expect(bundleShapeProblem(noRecord)).to.deep.equal({
      round: 1,
      detail: 'rounds.0.record: Invalid input: expected object, received undefined',
    });
    expect(
      bundleShapeProblem(changed((bundle) => void Object.assign(firstUpdate(bundle), { proofs: {} })))!.detail,
    ).to.match(/^rounds\.0\.record\.accepted\.0\.proofs: /);
    for (const notABundle of [null, 'bundle', 42, []])
      expect(bundleShapeProblem(notABundle)!.detail).to.match(/^\(root\): /);
  });

  it('makes the audit report a malformed bundle and check nothing else, without throwing', async () => {
    const huge = changed((bundle) => void (firstUpdate(bundle).score = 1e300));
    const report = await auditBundle(huge, {
      proofVerifier: () => {
        throw new Error('a malformed bundle has no proof checked');
      },
    });
    expect(report).to.deep.include({ ok: false, taskId: 't-1', rounds: [], chainChecked: false });
    expect(report.problems.map(({ round, kind }) => `${round}:${kind}`)).to.deep.equal(['1:malformed']);
    expect(
      (
        await auditBundle(null as unknown as AuditBundle, {
          proofVerifier: () => {
            throw new Error();
          },
        })
      ).taskId,
    ).to.equal('');
  });
});
