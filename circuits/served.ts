/**
 * A circuit's proving artifacts as the coordinator serves them (GET /api/circuits/:name/:file), and the checks that
 * make them safe to prove with on nobody's word: the verification key must hash to the task's
 * `zk.verificationKeySha256`, every file must match the sha256 its manifest names, and the proving key must hold
 * that very verification key. Platform-neutral: the Node client (fetch.ts) and a browser contributor share it, and
 * differ only in where they keep checked copies.
 */
import * as snarkjs from 'snarkjs';
import { sha256Hex } from '../common/bytes.js';
import { ZkflError } from '../common/errors.js';
import type { CircuitParams } from './params.js';

export interface Manifest {
  circuit: string;
  params: CircuitParams;
  sourceHash: string;
  constraints: number;
  publicSignals: readonly string[];
  ptau: { origin: 'given' | 'hermez' | 'dev'; sha256: string };
  ceremony: { contribution: string; beacon: string };
  /** Present when the keys must not be used in production (a local development powers of tau). */
  warning?: string;
  /** sha256 of every artifact, by file name. */
  artifacts: Record<string, string>;
  createdAt: string;
}

/** The files a prover needs, by the name the coordinator serves them under. */
export const servedCircuitFiles = ['manifest', 'verification-key', 'zkey', 'wasm'] as const;
export type ServedCircuitFile = (typeof servedCircuitFiles)[number];

/** A circuit's files in its build directory, by the names its manifest records their hashes under. */
export const artifactFiles = (name: string) => ({
  r1cs: `${name}.r1cs`,
  wasm: `${name}_js/${name}.wasm`,
  zkey: `${name}.zkey`,
  verificationKey: 'verification_key.json',
  verifierSol: 'Verifier.sol',
});

/** Where `file` of circuit `name` lives in a build or cache directory, as its manifest names it. */
export function circuitFilePath(name: string, file: ServedCircuitFile): string {
  const files = artifactFiles(name);
  return { manifest: 'manifest.json', 'verification-key': files.verificationKey, zkey: files.zkey, wasm: files.wasm }[
    file
  ];
}

/** A circuit's files, fetched and checked. */
export interface ServedCircuit {
  manifest: Manifest;
  verificationKey: Uint8Array;
  zkey: Uint8Array;
  wasm: Uint8Array;
}

const mismatch = (message: string): ZkflError => new ZkflError('UNAVAILABLE', message);

/** Fetches circuit `name`'s files with `fetchFile` and checks them against `expectedKeySha256` (the task's). */
export async function fetchServedCircuit(
  name: string,
  expectedKeySha256: string,
  fetchFile: (file: ServedCircuitFile) => Promise<Uint8Array>,
): Promise<ServedCircuit> {
  const verificationKey = await fetchFile('verification-key');
  if (sha256Hex(verificationKey) !== expectedKeySha256) {
    throw mismatch(`the coordinator's verification key for ${name} is not the task's`);
  }
  const manifest = JSON.parse(new TextDecoder().decode(await fetchFile('manifest'))) as Manifest;
  if (manifest.circuit !== name) throw mismatch(`the manifest is for ${manifest.circuit}`);
  const circuit = { manifest, verificationKey, zkey: await fetchFile('zkey'), wasm: await fetchFile('wasm') };
  const problem = await circuitProblem(name, circuit);
  if (problem) throw mismatch(problem);
  return circuit;
}

/** What is wrong with a circuit's files (a fetched or a cached copy), or undefined when they check out. */
export async function circuitProblem(name: string, circuit: ServedCircuit): Promise<string | undefined> {
  for (const file of ['verification-key', 'zkey', 'wasm'] as const) {
    const path = circuitFilePath(name, file);
    if (circuit.manifest.artifacts[path] !== sha256Hex(circuit[fileField[file]])) {
      return `${path} from the coordinator does not match its manifest`;
    }
  }
  // The proving key must be the one the verification key belongs to, or every proof would be refused.
  const fromZkey: unknown = await snarkjs.zKey.exportVerificationKey({ type: 'mem', data: circuit.zkey });
  const key: unknown = JSON.parse(new TextDecoder().decode(circuit.verificationKey));
  if (JSON.stringify(fromZkey) !== JSON.stringify(key)) {
    return `the coordinator's proving key for ${name} does not match its verification key`;
  }
  return undefined;
}

const fileField = { 'verification-key': 'verificationKey', zkey: 'zkey', wasm: 'wasm' } as const;
