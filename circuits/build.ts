/**
 * `zkfl setup`: compile a circuit and run its Groth16 phase-2 ceremony, cached by content hash.
 *
 *   compile   circom2 (WebAssembly) --O2 → r1cs + witness wasm, in .zkfl/circuits/<name>-<source hash>/
 *   phase 2   zkey from the powers of tau, one random contribution, a beacon
 *   export    verification key and Solidity verifier, both from the same final zkey
 *   manifest  sha256 of every artifact, the ptau's sha256 and origin, the ceremony's transcript hashes
 *
 * Artifacts are never committed. A build is reused while its source hash, its files and (when a ptau is given)
 * the ptau all match the manifest.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as snarkjs from 'snarkjs';
import { sha256Hex } from '../common/bytes.js';
import { createLogger } from '../common/log.js';
import { type CircuitParams, publicSignalNames } from './params.js';
import { fileHash, resolvePtau } from './ptau.js';
import { artifactFiles, type Manifest } from './served.js';
import { snarkjsLogger } from './snarkjs-logger.js';

const log = createLogger('setup');
const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const templateSource = fileURLToPath(new URL('./update-chunk.circom', import.meta.url));

export interface CircuitArtifacts {
  params: CircuitParams;
  dir: string;
  wasm: string;
  zkey: string;
  verificationKey: string;
  verifierSol: string;
  manifest: Manifest;
}

export interface BuildOptions {
  /** A powers-of-tau file (`--ptau` / `ZKFL_PTAU`); without one it is downloaded, or made by a dev ceremony. */
  ptau?: string;
  /** Rebuild even when the cache is fresh. */
  force?: boolean;
  onProgress?: (stage: string) => void;
}

function mainSource(params: CircuitParams, dir: string): string {
  const include = relative(dir, templateSource).split('\\').join('/');
  return [
    'pragma circom 2.1.0;',
    `include "${include}";`,
    `component main {public [${publicSignalNames.slice(1).join(', ')}]} = UpdateChunk(${params.chunkSize}, ${params.valueBits}, ${params.packPerElement});`,
    '',
  ].join('\n');
}

/** Everything the compiled circuit depends on: the template, the parameters, circomlib's and circom's versions. */
function sourceHash(params: CircuitParams): string {
  const version = (pkg: string): string =>
    (JSON.parse(readFileSync(join(packageDir(pkg), 'package.json'), 'utf8')) as { version: string }).version;
  return createHash('sha256')
    .update(readFileSync(templateSource))
    .update(JSON.stringify(params))
    .update(`circomlib ${version('circomlib')} circom2 ${version('circom2')} snarkjs ${version('snarkjs')}`)
    .digest('hex');
}

/** A dependency's directory (some packages' `exports` hide their package.json and templates from require). */
function packageDir(name: string): string {
  return join(projectRoot, 'node_modules', name);
}

export function artifactsRoot(): string {
  return join(projectRoot, '.zkfl', 'circuits');
}

function circuitDir(params: CircuitParams): string {
  return join(artifactsRoot(), `${params.name}-${sourceHash(params).slice(0, 12)}`);
}

export function sha256File(path: string): string {
  return sha256Hex(readFileSync(path));
}

/** The artifacts of `params` laid out in `dir` as a build lays them out. */
export function artifactsOf(params: CircuitParams, dir: string, manifest: Manifest): CircuitArtifacts {
  const files = artifactFiles(params.name);
  return {
    params,
    dir,
    wasm: join(dir, files.wasm),
    zkey: join(dir, files.zkey),
    verificationKey: join(dir, files.verificationKey),
    verifierSol: join(dir, files.verifierSol),
    manifest,
  };
}

/** The built artifacts of `params` if they are complete and match their manifest; undefined otherwise. */
export function loadCircuit(params: CircuitParams): CircuitArtifacts | undefined {
  const dir = circuitDir(params);
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) return undefined;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  if (manifest.sourceHash !== sourceHash(params)) return undefined;
  const intact = Object.entries(manifest.artifacts).every(
    ([file, hash]) => existsSync(join(dir, file)) && sha256File(join(dir, file)) === hash,
  );
  return intact ? artifactsOf(params, dir, manifest) : undefined;
}

/** sha256 of the verification key file: how a task names the keys its proofs must verify against. */
export function verificationKeySha256(artifacts: CircuitArtifacts): string {
  return sha256File(artifacts.verificationKey);
}

/** Like loadCircuit, but explains how to build what is missing. */
export function requireCircuit(params: CircuitParams): CircuitArtifacts {
  const artifacts = loadCircuit(params);
  if (!artifacts) throw new Error(`circuit ${params.name} is not built: run \`npx zkfl setup\``);
  return artifacts;
}

function compile(params: CircuitParams, dir: string): Promise<void> {
  const main = join(dir, `${params.name}.circom`);
  writeFileSync(main, mainSource(params, dir));
  const cli = join(packageDir('circom2'), 'cli.js');
  const nodeModules = join(projectRoot, 'node_modules');
  // circom2 runs under WASI with the working directory's ancestors preopened: paths must be relative to it.
  const args = [
    cli,
    relative(projectRoot, main),
    '--r1cs',
    '--wasm',
    '--O2',
    '-l',
    relative(projectRoot, nodeModules),
    '-o',
    relative(projectRoot, dir),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`circom failed (${code}):\n${output}`))));
  });
}

/** The fresh build of `params` (for the given ptau, if any), or undefined. */
async function freshBuild(params: CircuitParams, ptau: string | undefined): Promise<CircuitArtifacts | undefined> {
  const cached = loadCircuit(params);
  if (cached && (!ptau || (await fileHash(ptau, 'sha256')) === cached.manifest.ptau.sha256)) return cached;
  return undefined;
}

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
};

/** A build lock whose holder died: its process is gone, or it never wrote its pid within a minute. */
function abandoned(lock: string): boolean {
  try {
    const pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
    return Number.isInteger(pid) && pid > 0 && !isRunning(pid);
  } catch {
    const made = statSync(lock, { throwIfNoEntry: false })?.mtimeMs;
    return made !== undefined && Date.now() - made > 60_000;
  }
}

/**
 * Runs `build` holding the build lock of `dir` (a directory beside it naming its holder's process): two processes
 * that need the same circuit (the demo and the tests, parallel test files) build it once, the second waits and
 * reuses it. A lock whose process died is taken over.
 */
async function withBuildLock<T>(dir: string, build: () => Promise<T>): Promise<T> {
  const lock = `${dir}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  for (let announced = false; ;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    }
    if (abandoned(lock)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (!announced) log.info('another process is building this circuit: waiting for it', { dir });
    announced = true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  writeFileSync(join(lock, 'pid'), String(process.pid));
  try {
    return await build();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Builds `params` if its artifacts are missing or stale, and returns them. */
export async function buildCircuit(params: CircuitParams, options: BuildOptions = {}): Promise<CircuitArtifacts> {
  const dir = circuitDir(params);
  const cached = options.force ? undefined : await freshBuild(params, options.ptau);
  if (cached) {
    log.debug('circuit artifacts are fresh', { circuit: params.name, dir });
    return cached;
  }
  return withBuildLock(dir, async () => {
    // Built meanwhile by the process that held the lock.
    const built = options.force ? undefined : await freshBuild(params, options.ptau);
    return built ?? build(params, dir, options);
  });
}

async function build(params: CircuitParams, dir: string, options: BuildOptions): Promise<CircuitArtifacts> {
  const progress = options.onProgress ?? ((stage: string) => log.info(stage));
  mkdirSync(dir, { recursive: true });
  const files = artifactFiles(params.name);
  const at = (file: string): string => join(dir, file);
  const started = Date.now();

  if (options.force || !existsSync(at(files.r1cs)) || !existsSync(at(files.wasm))) {
    progress(`compiling ${params.name} (D = ${params.chunkSize}) with circom --O2`);
    await compile(params, dir);
  }
  const { nConstraints } = await snarkjs.r1cs.info(at(files.r1cs));
  progress(
    `${params.name}: ${nConstraints} constraints (${(nConstraints / params.chunkSize).toFixed(1)} per parameter)`,
  );
  if (nConstraints > 2 ** params.ptauPower)
    throw new Error(`${nConstraints} constraints do not fit 2^${params.ptauPower}`);

  const ptau = await resolvePtau(params.ptauPower, options.ptau, join(projectRoot, '.zkfl', 'ptau'), progress);
  if (ptau.origin === 'dev') log.warn('phase 2 runs on a development powers of tau: these keys are NOT for production');
  const ceremony = await phase2(params, at, ptau.path, progress);
  progress(`${params.name}: exporting the verification key and the Solidity verifier`);
  await exportKeys(params, at);

  const manifest: Manifest = {
    circuit: params.name,
    params,
    sourceHash: sourceHash(params),
    constraints: nConstraints,
    publicSignals: publicSignalNames,
    ptau: { origin: ptau.origin, sha256: await fileHash(ptau.path, 'sha256') },
    ceremony,
    ...(ptau.origin === 'dev' ? { warning: 'development powers of tau: NOT FOR PRODUCTION' } : {}),
    artifacts: Object.fromEntries(Object.values(files).map((file) => [file, sha256File(at(file))])),
    createdAt: new Date().toISOString(),
  };
  writeFileSync(at('manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  progress(`${params.name}: ready in ${((Date.now() - started) / 1000).toFixed(0)} s (${dir})`);
  await terminateCurve();
  return artifactsOf(params, dir, manifest);
}

/** Groth16's circuit-specific setup: an initial zkey, one contribution, and a beacon; what the manifest records. */
async function phase2(
  params: CircuitParams,
  at: (file: string) => string,
  ptau: string,
  progress: (stage: string) => void,
): Promise<Manifest['ceremony']> {
  const files = artifactFiles(params.name);
  const logger = snarkjsLogger('setup');
  const [zkey0, zkey1] = [at(`${params.name}_0.zkey`), at(`${params.name}_1.zkey`)];
  progress(`${params.name}: phase 2 — initial zkey`);
  await snarkjs.zKey.newZKey(at(files.r1cs), ptau, zkey0, logger);
  progress(`${params.name}: phase 2 — contribution`);
  const entropy = randomBytes(64).toString('hex');
  const contribution = await snarkjs.zKey.contribute(zkey0, zkey1, 'zkfl setup', entropy, logger);
  // The beacon stands in for public randomness (a future block hash in a real ceremony); it is recorded.
  const beacon = randomBytes(32).toString('hex');
  progress(`${params.name}: phase 2 — beacon`);
  await snarkjs.zKey.beacon(zkey1, at(files.zkey), 'zkfl beacon', beacon, 10, logger);
  rmSync(zkey0);
  rmSync(zkey1);
  return { contribution: Buffer.from(contribution).toString('hex'), beacon };
}

/** The verification key and the Solidity verifier, from the final zkey. */
async function exportKeys(params: CircuitParams, at: (file: string) => string): Promise<void> {
  const files = artifactFiles(params.name);
  const logger = snarkjsLogger('setup');
  const verificationKey = await snarkjs.zKey.exportVerificationKey(at(files.zkey), logger);
  writeFileSync(at(files.verificationKey), JSON.stringify(verificationKey, null, 1));
  const template = readFileSync(join(packageDir('snarkjs'), 'templates', 'verifier_groth16.sol.ejs'), 'utf8');
  const solidity = await snarkjs.zKey.exportSolidityVerifier(at(files.zkey), { groth16: template }, logger);
  writeFileSync(
    at(files.verifierSol),
    `// GENERATED by \`zkfl setup\` from ${files.zkey} (sha256 in manifest.json). Do not edit.\n${solidity}`,
  );
}

/** snarkjs keeps a pool of curve worker threads alive; without this the process never exits. */
export async function terminateCurve(): Promise<void> {
  const holder = globalThis as { curve_bn128?: { terminate(): Promise<void> } | null };
  await holder.curve_bn128?.terminate();
  holder.curve_bn128 = null;
}
