/** What every command shares: argument parsing, the common flags, and the checks on their values. */
import { parseEther } from 'ethers';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type CircuitName, circuitParams } from '../circuits/params.js';
import { type Deployment, readDeployment } from '../contracts/deployment.js';
import { ZkflError } from '../common/errors.js';

export const common = {
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Values = Record<string, string | boolean | undefined>;

export function parse(args: string[], options: Record<string, { type: 'string' | 'boolean' }>): Values {
  return parseArgs({ args, options: { ...common, ...options }, strict: true, allowPositionals: false }).values;
}

export function required(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '')
    throw new ZkflError('VALIDATION_FAILED', `--${name} is required`, name);
  return value;
}

export function integer(values: Values, name: string, fallback: number, min = 1): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new ZkflError('VALIDATION_FAILED', `--${name} must be an integer ≥ ${min}`, name);
  return value;
}

export const chainOptions = { rpc: { type: 'string' }, deployment: { type: 'string' } } as const;

/** A token or ether amount such as 100 or 0.5, in base units (18 decimals). */
export function tokenAmount(values: Values, name: string, fallback: string): bigint {
  try {
    return parseEther((values[name] as string | undefined) ?? fallback);
  } catch {
    throw new ZkflError('VALIDATION_FAILED', `--${name} must be an amount such as 100 or 0.5`, name);
  }
}

/** --rpc and --deployment, both or neither. */
export function chainFrom(values: Values): { rpcUrl: string; deployment: Deployment } | undefined {
  if (values.rpc === undefined && values.deployment === undefined) return undefined;
  const path = required(values, 'deployment');
  let deployment: Deployment;
  try {
    deployment = readDeployment(path);
  } catch (error) {
    throw new ZkflError('VALIDATION_FAILED', `cannot read ${path}: ${(error as Error).message}`, 'deployment');
  }
  return { rpcUrl: (values.rpc as string | undefined) ?? deployment.rpcUrl ?? required(values, 'rpc'), deployment };
}

/** The password that unlocks (or encrypts) keys: `--password-file`, else ZKFL_PASSWORD. */
export function password(values: Values): string | undefined {
  const file = values['password-file'] as string | undefined;
  if (file === undefined) return process.env.ZKFL_PASSWORD;
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw new ZkflError('VALIDATION_FAILED', `cannot read ${file}: ${(error as Error).message}`, 'password-file');
  }
}

export const keyOptions = { key: { type: 'string' }, 'password-file': { type: 'string' } } as const;

export function coordinatorUrl(values: Values): string {
  return (
    (values.coordinator as string | undefined) ??
    process.env.ZKFL_COORDINATOR ??
    'http://127.0.0.1:8080'
  ).replace(/\/$/, '');
}

/** `--circuit a,b`: circuit names, each checked. */
export function circuitNames(list: string, flag: string): CircuitName[] {
  const names = list.split(',');
  for (const name of names) {
    if (!(name in circuitParams)) {
      throw new ZkflError(
        'VALIDATION_FAILED',
        `--${flag}: ${name} is not one of ${Object.keys(circuitParams).join(', ')}`,
        flag,
      );
    }
  }
  return names as CircuitName[];
}

/** The JSON in the file a flag (`--<flag> FILE`) names. */
export function readJson(path: string, flag: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ZkflError('VALIDATION_FAILED', `cannot read ${path} as JSON: ${(error as Error).message}`, flag);
  }
}
