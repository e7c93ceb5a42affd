/**
 * A data holder's machine has no build of the task's circuit with the coordinator's keys (phase 2 is a random
 * contribution: two builds never share keys). It fetches the proving artifacts from the coordinator instead and
 * trusts none of them on its word: the verification key must hash to the task's `zk.verificationKeySha256`, the
 * proving key must hold that very verification key, and every file must match the sha256 its manifest names.
 * Checked files are cached; a cached copy is checked again before use.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as snarkjs from 'snarkjs';
import { sha256Hex } from '../common/bytes.js';
import { createLogger } from '../common/log.js';
import type { CoordinatorApi } from '../protocol/api.js';
import { ZkflError } from '../common/errors.js';
import type { TaskView } from '../protocol/rest.js';
import {
  artifactFiles,
  artifactsOf,
  type CircuitArtifacts,
  type Manifest,
  sha256File,
  terminateCurve,
} from './build.js';
import { circuitNamed } from './params.js';

const log = createLogger('circuits');

/** The files a prover needs, by the name the coordinator serves them under (GET /api/circuits/:name/:file). */
export const servedCircuitFiles = ['manifest', 'verification-key', 'zkey', 'wasm'] as const;
export type ServedCircuitFile = (typeof servedCircuitFiles)[number];

/** Where `file` of circuit `name` lives in a build or cache directory. */
export function circuitFilePath(name: string, file: ServedCircuitFile): string {
  const files = artifactFiles(name);
  return { manifest: 'manifest.json', 'verification-key': files.verificationKey, zkey: files.zkey, wasm: files.wasm }[
    file
  ];
}

/** The task's proving artifacts, from `cacheDir` if a checked copy is there, else from the coordinator. */
export async function fetchCircuit(api: CoordinatorApi, task: TaskView, cacheDir: string): Promise<CircuitArtifacts> {
  const params = circuitNamed(task.zk.circuit);
  const expected = task.zk.verificationKeySha256;
  if (!expected) throw new Error(`task ${task.id} takes no proofs`);
  const dir = join(cacheDir, `${params.name}-${expected.slice(0, 16)}`);
  const cached = checkedCopy(params.name, dir, expected);
  if (cached) return artifactsOf(params, dir, cached);

  const fetched = (file: ServedCircuitFile): Promise<Buffer> => api.circuitFile(params.name, file);
  const keyText = (await fetched('verification-key')).toString('utf8');
  if (sha256Hex(keyText) !== expected) {
    throw new ZkflError('UNAVAILABLE', `the coordinator's verification key for ${params.name} is not the task's`);
  }
  const manifest = JSON.parse((await fetched('manifest')).toString('utf8')) as Manifest;
  if (manifest.circuit !== params.name) throw new ZkflError('UNAVAILABLE', `the manifest is for ${manifest.circuit}`);
  log.info(`fetching the proving key of ${params.name} from the coordinator`);
  const files: Array<[ServedCircuitFile, Buffer]> = [
    ['verification-key', Buffer.from(keyText)],
    ['zkey', await fetched('zkey')],
    ['wasm', await fetched('wasm')],
  ];
  for (const [file, bytes] of files) {
    const path = circuitFilePath(params.name, file);
    if (manifest.artifacts[path] !== sha256Hex(bytes)) {
      throw new ZkflError('UNAVAILABLE', `${path} from the coordinator does not match its manifest`);
    }
  }
  const staging = `${dir}.partial`;
  rmSync(staging, { recursive: true, force: true });
  for (const [file, bytes] of files) {
    const path = join(staging, circuitFilePath(params.name, file));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
  }
  // The proving key must be the one the verification key belongs to, or every proof would be refused.
  const fromZkey = await snarkjs.zKey.exportVerificationKey(join(staging, circuitFilePath(params.name, 'zkey')));
  await terminateCurve();
  if (JSON.stringify(fromZkey) !== JSON.stringify(JSON.parse(keyText))) {
    throw new ZkflError(
      'UNAVAILABLE',
      `the coordinator's proving key for ${params.name} does not match its verification key`,
    );
  }
  writeFileSync(join(staging, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  // A copy that did not check out above is replaced.
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return artifactsOf(params, dir, manifest);
}

/** The manifest of a cached copy whose files all match it and whose verification key is the task's. */
function checkedCopy(name: string, dir: string, expected: string): Manifest | undefined {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) return undefined;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  const key = join(dir, circuitFilePath(name, 'verification-key'));
  const intact = (['verification-key', 'zkey', 'wasm'] as const).every((file) => {
    const path = circuitFilePath(name, file);
    return existsSync(join(dir, path)) && sha256File(join(dir, path)) === manifest.artifacts[path];
  });
  return intact && sha256File(key) === expected ? manifest : undefined;
}
