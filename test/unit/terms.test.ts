import { expect } from 'chai';
import { Wallet } from 'ethers';
import type { InfoView, TaskView } from '../../protocol/rest.js';
import { parseTaskSpec, rootExponent, type TaskSpecInput } from '../../protocol/task-spec.js';
import { renderTerms } from '../../protocol/terms-text.js';
import { taskTerms, termsHash } from '../../protocol/terms.js';

const minimal: TaskSpecInput = {
  model: { preset: 'mlp' },
  rounds: 3,
  clientsPerRound: { min: 2, target: 4 },
  evaluation: { path: '/data/test' },
};
const info = { coordinator: Wallet.createRandom().address, chain: null } as unknown as InfoView;
const termsOf = (spec: TaskSpecInput) => {
  const task = { id: 't-1', spec: parseTaskSpec(spec), numParams: 7850, zk: { valueBits: 6 } } as unknown as TaskView;
  const terms = taskTerms(task, info, '0x' + '11'.repeat(32));
  return { terms, text: renderTerms({ terms, termsHash: termsHash(terms) }) };
};

describe('terms (protocol/terms.ts)', () => {
  it("take the owner's root as the noise floor only with contributors only and a rule other than FLTrust", () => {
    const aggregation = (input: object) => parseTaskSpec({ ...minimal, aggregation: input }).aggregation;
    expect(rootExponent(aggregation({}))).to.equal(1);
    expect(rootExponent(aggregation({ noiseFloor: false }))).to.equal(null);
    expect(rootExponent(aggregation({ contributorsOnly: false }))).to.equal(null);
    expect(rootExponent(aggregation({ rule: 'fltrust', trustExponent: 3 }))).to.equal(3);
    // A task stored before the floor has no noiseFloor, and takes none.
    const { noiseFloor: _, ...stored } = aggregation({});
    expect(rootExponent(stored)).to.equal(null);
  });

  it('name the noise floor and a holder list only where they apply, so that other terms hash as before', () => {
    const plain = termsOf(minimal);
    expect(plain.terms.weights.noiseFloor).to.equal(true);
    expect(plain.text).to.match(/no more than random noise would/);
    expect(plain.terms.holders).to.equal(undefined);
    const off = termsOf({ ...minimal, aggregation: { noiseFloor: false } });
    expect('noiseFloor' in off.terms.weights).to.equal(false);
    expect(off.text).to.not.match(/random noise/);
    const fltrust = termsOf({ ...minimal, aggregation: { rule: 'fltrust' } });
    expect('noiseFloor' in fltrust.terms.weights).to.equal(false);
    const known = termsOf({ ...minimal, holders: [info.coordinator] });
    expect(known.terms.holders?.count).to.equal(1);
    expect(known.text).to.match(/only the 1 address\(es\) the owner named/);
  });
});
