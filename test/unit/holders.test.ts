import { expect } from 'chai';
import { Wallet } from 'ethers';
import { holdersHash, invited } from '../../protocol/holders.js';
import { parseTaskSpec } from '../../protocol/task-spec.js';
import { specRefusal } from '../helpers/spec.js';

const minimal = {
  model: { preset: 'mlp' },
  rounds: 3,
  clientsPerRound: { min: 2, target: 4 },
  evaluation: { path: '/data/test' },
};
const [a, b, c] = [1, 2, 3].map((i) => new Wallet(`0x${i.toString(16).padStart(64, '0')}`).address);

describe('known holders', () => {
  it('lets anyone take part unless the spec names its holders, then only those, whatever the case', () => {
    expect(parseTaskSpec(minimal).holders).to.equal(undefined);
    expect(invited(undefined, c!)).to.equal(true);
    const { holders } = parseTaskSpec({ ...minimal, holders: [a, b!.toLowerCase()] });
    expect([invited(holders, a!), invited(holders, b!), invited(holders, a!.toLowerCase())]).to.deep.equal([
      true,
      true,
      true,
    ]);
    expect(invited(holders, c!)).to.equal(false);
  });

  it('refuses a list with an address twice (in any case), an empty one, or something that is not an address', () => {
    expect(specRefusal({ ...minimal, holders: [a, a!.toLowerCase()] }).field).to.equal('holders');
    expect(specRefusal({ ...minimal, holders: [] }).field).to.equal('holders');
    expect(specRefusal({ ...minimal, holders: [a, 'alice'] }).field).to.equal('holders.1');
  });

  it('hashes a list whatever its order and case, and tells two lists apart', () => {
    expect(holdersHash([a!, b!])).to.equal(holdersHash([b!.toLowerCase(), a!]));
    expect(holdersHash([a!, b!])).to.not.equal(holdersHash([a!, c!]));
    expect(holdersHash([a!])).to.not.equal(holdersHash([a!, b!]));
  });
});
