/**
 * Deploying zkfl's contracts and the deployment JSON that the coordinator, clients and verifiers read to find them.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ContractFactory, type Signer } from 'ethers';
import type { CircuitArtifacts } from '../circuits/build.js';
import { createLogger } from '../common/log.js';
import { chainIdOf } from './chain.js';
import { type CompiledContract, verifierContract, zkflContracts } from './compile.js';
import { type Deployment, deploymentSchema } from './deployed.js';

const log = createLogger('deploy');

export { type Deployment, deploymentSchema, verifierFor } from './deployed.js';

async function deployContract(compiled: CompiledContract, signer: Signer, ...args: unknown[]): Promise<string> {
  const contract = await new ContractFactory(compiled.abi, compiled.bytecode, signer).deploy(...args);
  await contract.waitForDeployment();
  return contract.getAddress();
}

/** Deploys the reward token, the rewards contract and one verifier per circuit, from `signer`. */
export async function deployZkfl(
  signer: Signer,
  circuits: Array<Pick<CircuitArtifacts, 'params' | 'verifierSol' | 'manifest'>>,
  rpcUrl?: string,
): Promise<Deployment> {
  const { ZkflRewards, RewardToken } = zkflContracts();
  const deployer = await signer.getAddress();
  const provider = signer.provider!;
  const token = await deployContract(RewardToken, signer, deployer);
  const rewards = await deployContract(ZkflRewards, signer);
  const verifiers: Deployment['verifiers'] = {};
  for (const circuit of circuits) {
    verifiers[circuit.params.name] = {
      address: await deployContract(verifierContract(circuit.verifierSol), signer),
      verificationKeySha256: circuit.manifest.artifacts['verification_key.json'] ?? '',
    };
  }
  const deployment: Deployment = {
    chainId: await chainIdOf(provider),
    ...(rpcUrl ? { rpcUrl } : {}),
    rewards,
    token,
    verifiers,
    deployer,
    blockNumber: await provider.getBlockNumber(),
    deployedAt: new Date().toISOString(),
  };
  log.info('deployed', { rewards, token, verifiers: Object.keys(verifiers).join(',') });
  return deployment;
}

export function writeDeployment(path: string, deployment: Deployment): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, JSON.stringify(deployment, null, 2) + '\n');
  renameSync(`${path}.tmp`, path);
}

export function readDeployment(path: string): Deployment {
  return deploymentSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}
