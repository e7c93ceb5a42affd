/**
 * Compiles zkfl's Solidity with npm solc (solcjs, standard JSON, OpenZeppelin resolved from node_modules) — never
 * `hardhat compile`, which downloads a compiler. Outputs are cached under .zkfl/contracts/ by the sha256 of the
 * sources, the settings and the compiler version, so only the first run pays solcjs's few seconds.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InterfaceAbi } from 'ethers';
import { createLogger } from '../common/log.js';

const log = createLogger('solc');
/** solc's own typings are `any`; this is the part of its API used here. */
interface Solc {
  version(): string;
  compile(input: string, callbacks: { import(path: string): { contents: string } | { error: string } }): string;
}
const require = createRequire(import.meta.url);
/** The compiler, loaded only to compile (loading solcjs takes most of a second; the cache mostly spares it). */
const loadSolc = (): Solc => require('solc') as Solc;
/** The npm solc release: one compiler build per release, so it names the compiler in cache keys. */
const solcRelease = (require('solc/package.json') as { version: string }).version;
const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const contractsDir = fileURLToPath(new URL('.', import.meta.url));

export interface CompiledContract {
  abi: InterfaceAbi;
  /** Creation bytecode, 0x-hex. */
  bytecode: string;
  /** Runtime bytecode, 0x-hex: what `eth_getCode` returns once deployed (immutables aside). */
  deployedBytecode: string;
}

const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

interface SolcOutput {
  errors?: Array<{ severity: 'error' | 'warning' | 'info'; formattedMessage: string }>;
  contracts?: Record<
    string,
    Record<string, { abi: InterfaceAbi; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>
  >;
}

/** Compiles `sources` (source unit name → text) and returns every contract by name. */
export function compileSources(sources: Record<string, string>): Record<string, CompiledContract> {
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(Object.entries(sources).map(([name, content]) => [name, { content }])),
    settings,
  };
  const key = createHash('sha256').update(solcRelease).update(JSON.stringify(input)).digest('hex').slice(0, 16);
  const cacheDir = join(projectRoot, '.zkfl', 'contracts');
  const cached = join(cacheDir, `${key}.json`);
  if (existsSync(cached)) return JSON.parse(readFileSync(cached, 'utf8')) as Record<string, CompiledContract>;

  const started = Date.now();
  const compiler = loadSolc();
  log.info(`compiling ${Object.keys(sources).join(', ')} with solc ${compiler.version()}`);
  const output = JSON.parse(compiler.compile(JSON.stringify(input), { import: findImport })) as SolcOutput;
  const errors = (output.errors ?? []).filter((error) => error.severity === 'error');
  if (errors.length > 0) throw new Error(`solc: ${errors.map((error) => error.formattedMessage).join('\n')}`);
  const contracts: Record<string, CompiledContract> = {};
  for (const unit of Object.values(output.contracts ?? {})) {
    for (const [name, contract] of Object.entries(unit)) {
      contracts[name] = {
        abi: contract.abi,
        bytecode: '0x' + contract.evm.bytecode.object,
        deployedBytecode: '0x' + contract.evm.deployedBytecode.object,
      };
    }
  }
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(`${cached}.tmp`, JSON.stringify(contracts));
  renameSync(`${cached}.tmp`, cached);
  log.info(`compiled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return contracts;
}

/** solc's import callback: OpenZeppelin (and any other package) from node_modules. */
function findImport(path: string): { contents: string } | { error: string } {
  try {
    return { contents: readFileSync(require.resolve(path), 'utf8') };
  } catch {
    return { error: `not found: ${path}` };
  }
}

/** zkfl's own contracts (contracts/*.sol). */
export function zkflContracts(): { ZkflRewards: CompiledContract; RewardToken: CompiledContract } {
  const sources = Object.fromEntries(
    readdirSync(contractsDir)
      .filter((file) => file.endsWith('.sol'))
      .map((file) => [`contracts/${file}`, readFileSync(join(contractsDir, file), 'utf8')]),
  );
  const { ZkflRewards, RewardToken } = compileSources(sources);
  if (!ZkflRewards || !RewardToken) throw new Error('contracts/ lacks ZkflRewards or RewardToken');
  return { ZkflRewards, RewardToken };
}

/** The Groth16 verifier `zkfl setup` generated beside a circuit's final zkey. */
export function verifierContract(verifierSol: string): CompiledContract {
  const compiled = compileSources({ [basename(verifierSol)]: readFileSync(verifierSol, 'utf8') }).Groth16Verifier;
  if (!compiled) throw new Error(`${verifierSol} defines no Groth16Verifier`);
  return compiled;
}
