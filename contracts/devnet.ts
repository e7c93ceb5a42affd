/**
 * A local development chain with zkfl deployed on it: `hardhat node` on 127.0.0.1, the contracts (one verifier per
 * built circuit) deployed from Hardhat's first account, which also owns the reward token and funds the others.
 * Used by `zkfl chain`, the demo and the integration tests.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { type JsonRpcProvider, type JsonRpcSigner, parseEther } from 'ethers';
import type { CircuitArtifacts } from '../circuits/build.js';
import { type LocalChain, startLocalChain } from './chain.js';
import { connectRpc } from './rpc.js';
import { type Deployment, deployZkfl } from './deployment.js';
import { TokenContract } from './rewards.js';

export interface Devnet {
  chain: LocalChain;
  provider: JsonRpcProvider;
  deployment: Deployment;
  /** Hardhat's first account: deployer, token owner, and the demo's model owner. */
  owner: JsonRpcSigner;
  /** Sends `ether` (default 10) from the owner, for gas. */
  fund(address: string, ether?: string): Promise<void>;
  /** Mints reward tokens (base units) to `address`. */
  mint(address: string, amount: bigint): Promise<void>;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (hardhat node cannot report the one it picked for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startDevnet(
  circuits: Array<Pick<CircuitArtifacts, 'params' | 'verifierSol' | 'manifest'>>,
  port?: number,
): Promise<Devnet> {
  const chain = await startLocalChain(port ?? (await freePort()));
  try {
    const provider = connectRpc(chain.url);
    const owner = await provider.getSigner(0);
    const deployment = await deployZkfl(owner, circuits, chain.url);
    const token = new TokenContract(deployment.token, owner);
    return {
      chain,
      provider,
      deployment,
      owner,
      fund: async (address, ether = '10') =>
        void (await (await owner.sendTransaction({ to: address, value: parseEther(ether) })).wait()),
      mint: async (address, amount) => void (await (await token.mint(address, amount)).wait()),
      stop: async () => {
        provider.destroy();
        await chain.stop();
      },
    };
  } catch (error) {
    await chain.stop();
    throw error;
  }
}
