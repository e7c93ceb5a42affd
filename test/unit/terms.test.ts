import { expect } from 'chai';
import { Wallet } from 'ethers';
import type { InfoView, TaskView } from '../../protocol/rest.js';
import { parseTaskSpec, type TaskSpecInput } from '../../protocol/task-spec.js';
import { renderTerms } from '../../protocol/terms-text.js';
import { taskTerms, termsHash } from '../../protocol/terms.js';

const minimal: TaskSpecInput = {
  model: { preset: 'mlp' },
  rounds: 3,
  clientsPerRound: { min: 2, target: 4 },
  evaluation: { path: '/data/test' },
};
const info = { coordinator: Wallet.createRandom().address, chain: null } as unknown as InfoView;
const taskOf = (spec: TaskSpecInput): TaskView =>
  ({ id: 't-1', spec: parseTaskSpec(spec), numParams: 7850, zk: { valueBits: 6 } }) as unknown as TaskView;
const termsOf = (spec: TaskSpecInput) => {
  const terms = taskTerms(taskOf(spec), info, '0x' + '11'.repeat(32));
  return { terms, text: renderTerms({ terms, termsHash: termsHash(terms) }) };
};
/** The terms of a task stored before some fields existed: `forget` deletes them from its parsed spec. */
const storedTerms = (forget: (spec: Record<string, Record<string, unknown>>) => void) => {
  const task = taskOf(minimal);
  forget(task.spec as unknown as Record<string, Record<string, unknown>>);
  return taskTerms(task, info, '0x' + '11'.repeat(32));
};

describe('terms (protocol/terms.ts)', () => {
  it('name a holder list only when the task has one, so that other terms hash as before', () => {
    const open = termsOf(minimal);
    expect('holders' in open.terms).to.equal(false);
    expect(open.text).to.not.match(/who takes part/);
    const known = termsOf({ ...minimal, holders: [info.coordinator] });
    expect(known.terms.holders?.count).to.equal(1);
    expect(known.text).to.match(/only the 1 address\(es\) the owner named/);
    expect(termsHash(known.terms)).to.not.equal(termsHash(open.terms));
  });

  it('say that noise is left out when the task leaves it out, and keep the terms of tasks from before the rule', () => {
    const current = termsOf(minimal);
    expect(current.terms.weights.leaveOutNoise).to.equal(true);
    expect(current.text).to.match(/so is noise/);
    expect(termsOf({ ...minimal, aggregation: { leaveOutNoise: false } }).text).to.not.match(/so is noise/);
    // A task stored before the rule has no such field: its terms, and the hash its consents signed, are unchanged.
    const stored = storedTerms(({ aggregation }) => {
      delete aggregation!.leaveOutNoise;
      delete aggregation!.replayDistance;
      delete aggregation!.leaveOutByScore;
    });
    const { leaveOutNoise, replayDistance, leaveOutByScore, ...before } = current.terms.weights;
    expect([leaveOutNoise, replayDistance, leaveOutByScore, stored.weights]).to.deep.equal([true, 0.25, true, before]);
  });

  it('say that pay follows scores summed over the task by default, and keep the terms of tasks from before the rule', () => {
    const current = termsOf(minimal);
    expect(current.terms.rewards.valueOver).to.equal('task');
    expect(current.text).to.match(/the value part follows your scores summed over the task: each round pays what you/);
    const perRound = termsOf({ ...minimal, rewards: { valueOver: 'round' } });
    expect([perRound.terms.rewards.valueOver, /summed over the task/.test(perRound.text)]).to.deep.equal([
      'round',
      false,
    ]);
    // A task stored before the rule has no such field: its terms, and the hash its consents signed, are as they were.
    const stored = storedTerms(({ rewards }) => delete rewards!.valueOver);
    const { valueOver, ...before } = current.terms.rewards;
    expect([valueOver, stored.rewards, termsHash(stored)]).to.deep.equal([
      'task',
      before,
      termsHash({ ...current.terms, rewards: before }),
    ]);
  });

  it("say how close a replay is, and when each update is judged alone, not by its score among the others'", () => {
    expect(termsOf(minimal).text).to.match(
      /an update worth nothing, or replaying the last round's step \(within 0.25 of it, relative\), is left out/,
    );
    const alone = termsOf({ ...minimal, aggregation: { leaveOutByScore: false } }).text;
    expect(alone).to.match(/an update of zeros, or replaying .* earns 0; each update is judged alone, and every other/);
    const text = termsOf({
      ...minimal,
      aggregation: { replicaDistance: 0, leaveOutByScore: false },
      privacy: { delta: 1e-5, targetEpsilon: 3, population: 1000 },
    }).text;
    expect(text).to.match(/each update is judged alone, so the privacy noise still covers one holder/);
    expect(text).to.match(/so is noise/);
    expect(text).to.not.match(/worth nothing/);
    // A task that aggregates everything says that free riders may be paid; one stored before the rule says nothing.
    expect(termsOf({ ...minimal, aggregation: { contributorsOnly: false } }).text).to.match(
      /every accepted update enters the model and is scored: one that does nothing .* may be paid too/,
    );
    expect(termsOf(minimal).text).to.not.match(/may be paid too/);
  });
});
