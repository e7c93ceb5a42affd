/**
 * A data holder's machine has no build of the task's circuit with the coordinator's keys (phase 2 is a random
 * contribution: two builds never share keys). It fetches the proving artifacts from the coordinator instead and
 * trusts none of them on its word: the verification key must hash to the task's `zk.verificationKeySha256`, the
 * proving key must hold that very verification key, and every file must match the sha256 its manifest names.
 * Checked files are cached; a cached copy is checked again before use.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createLogger } from '../common/log.js';
import type { CoordinatorApi } from '../protocol/api.js';
import type { TaskView } from '../protocol/rest.js';
import { artifactsOf, type CircuitArtifacts, sha256File, terminateCurve } from './build.js';
import { circuitNamed } from './params.js';
import { circuitFilePath, fetchServedCircuit, type Manifest } from './served.js';

const log = createLogger('circuits');

/** The task's proving artifacts, from `cacheDir` if a checked copy is there, else from the coordinator. */
export async function fetchCircuit(api: CoordinatorApi, task: TaskView, cacheDir: string): Promise<CircuitArtifacts> {
  const params = circuitNamed(task.zk.circuit);
  const expected = task.zk.verificationKeySha256;
  if (!expected) throw new Error(`task ${task.id} takes no proofs`);
  const dir = join(cacheDir, `${params.name}-${expected.slice(0, 16)}`);
  const cached = checkedCopy(params.name, dir, expected);
  if (cached) return artifactsOf(params, dir, cached);

  log.info(`fetching the proving key of ${params.name} from the coordinator`);
  const circuit = await fetchServedCircuit(params.name, expected, (file) => api.circuitFile(params.name, file));
  await terminateCurve();
  const staging = `${dir}.partial`;
  rmSync(staging, { recursive: true, force: true });
  const files = { 'verification-key': circuit.verificationKey, zkey: circuit.zkey, wasm: circuit.wasm };
  for (const [file, bytes] of Object.entries(files)) {
    const path = join(staging, circuitFilePath(params.name, file as keyof typeof files));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
  }
  writeFileSync(join(staging, 'manifest.json'), JSON.stringify(circuit.manifest, null, 2) + '\n');
  // A copy that did not check out is replaced.
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return artifactsOf(params, dir, circuit.manifest);
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
