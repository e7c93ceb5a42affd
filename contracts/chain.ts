/**
 * Chains zkfl talks to: Hardhat 2's in-process chain (tests), a `hardhat node` on 127.0.0.1 (the demo and
 * `zkfl chain`), or any EVM JSON-RPC URL. Hardhat is only a chain here: nothing is compiled through it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { BrowserProvider, type Eip1193Provider, type Provider } from 'ethers';
import { LOCAL_POLLING_MS, NO_CACHE } from './rpc.js';
import { createLogger } from '../common/log.js';

const log = createLogger('chain');
const require = createRequire(import.meta.url);
const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const hardhatConfig = fileURLToPath(new URL('../hardhat.config.cjs', import.meta.url));

/** Hardhat's in-process chain, for tests: fresh per process, 20 unlocked accounts with 10,000 ETH each. */
export function inProcessChain(): BrowserProvider {
  process.env.HARDHAT_CONFIG ??= hardhatConfig;
  const hre = require('hardhat') as { network: { provider: Eip1193Provider } };
  const provider = new BrowserProvider(hre.network.provider, undefined, NO_CACHE);
  provider.pollingInterval = LOCAL_POLLING_MS;
  return provider;
}

export interface LocalChain {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `hardhat node` on 127.0.0.1:`port` (8545 by default) and resolves once it serves JSON-RPC. */
export function startLocalChain(port = 8545): Promise<LocalChain> {
  const bin = require.resolve('hardhat/internal/cli/cli.js');
  const child = spawn(
    process.execPath,
    [bin, 'node', '--hostname', '127.0.0.1', '--port', String(port), '--config', hardhatConfig],
    { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (data: Buffer): void => {
      output += data.toString();
      if (output.includes('Started HTTP and WebSocket JSON-RPC server')) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        log.info(`local chain (hardhat node) at ${url}`);
        resolve({ url, process: child, stop });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (data: Buffer) => (output += data.toString()));
    child.once('exit', (code) => reject(new Error(`hardhat node exited (${code}): ${output.slice(-2000)}`)));
  });
}

/** The chain id a provider reports. */
export async function chainIdOf(provider: Provider): Promise<number> {
  return Number((await provider.getNetwork()).chainId);
}
