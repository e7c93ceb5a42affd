import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { zkflContracts } from '../../contracts/compile.js';

describe('the contracts ABI file (contracts/abi.json)', () => {
  it('is what the Solidity compiles to: after a change to contracts/*.sol, run scripts/abi.ts again', () => {
    const kept = JSON.parse(readFileSync(new URL('../../contracts/abi.json', import.meta.url), 'utf8')) as object;
    const { ZkflRewards, RewardToken } = zkflContracts();
    expect(kept).to.deep.equal({ ZkflRewards: ZkflRewards.abi, RewardToken: RewardToken.abi });
  });
});
