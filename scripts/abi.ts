/**
 * Writes contracts/abi.json: the ABIs of ZkflRewards and RewardToken, compiled from contracts/*.sol, for the code
 * that talks to them without a compiler (the browser's contributor page; contracts/rewards.ts everywhere).
 * test/contracts/abi.test.ts fails when the file no longer matches the Solidity: run this script again then.
 */
import { writeFileSync } from 'node:fs';
import { zkflContracts } from '../contracts/compile.js';

const { ZkflRewards, RewardToken } = zkflContracts();
const abi = { ZkflRewards: ZkflRewards.abi, RewardToken: RewardToken.abi };
writeFileSync(new URL('../contracts/abi.json', import.meta.url), JSON.stringify(abi) + '\n');
