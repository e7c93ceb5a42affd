/**
 * Where the powers of tau come from, in order: a file the operator gives (`--ptau`, `ZKFL_PTAU`); the public
 * Hermez / Perpetual Powers of Tau file of the needed power, downloaded and checked against the blake2b hash
 * published in snarkjs's README; or, offline, a local development ceremony — which is NOT for production: its
 * single contributor's toxic waste was not destroyed with any care.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as snarkjs from 'snarkjs';
import { createLogger } from '../common/log.js';
import { snarkjsLogger } from './snarkjs-logger.js';

const log = createLogger('ptau');

/** blake2b-512 of powersOfTau28_hez_final_<power>.ptau, as published in snarkjs's README. */
const hermezHashes: Record<number, string> = {
  10: '6cfeb8cda92453099d20120bdd0e8a5c4e7706c2da9a8f09ccc157ed2464d921fd0437fb70db42104769efd7d6f3c1f964bcf448c455eab6f6c7d863e88a5849',
  11: '47c282116b892e5ac92ca238578006e31a47e7c7e70f0baa8b687f0a5203e28ea07bbbec765a98dcd654bad618475d4661bfaec3bd9ad2ed12e7abc251d94d33',
  12: 'ded2694169b7b08e898f736d5de95af87c3f1a64594013351b1a796dbee393bd825f88f9468c84505ddd11eb0b1465ac9b43b9064aa8ec97f2b73e04758b8a4a',
  13: '58efc8bf2834d04768a3d7ffcd8e1e23d461561729beaac4e3e7a47829a1c9066d5320241e124a1a8e8aa6c75be0ba66f65bc8239a0542ed38e11276f6fdb4d9',
  14: 'eeefbcf7c3803b523c94112023c7ff89558f9b8e0cf5d6cdcba3ade60f168af4a181c9c21774b94fbae6c90411995f7d854d02ebd93fb66043dbb06f17a831c1',
  15: '982372c867d229c236091f767e703253249a9b432c1710b4f326306bfa2428a17b06240359606cfe4d580b10a5a1f63fbed499527069c18ae17060472969ae6e',
  16: '6a6277a2f74e1073601b4f9fed6e1e55226917efb0f0db8a07d98ab01df1ccf43eb0e8c3159432acd4960e2f29fe84a4198501fa54c8dad9e43297453efec125',
  17: '6247a3433948b35fbfae414fa5a9355bfb45f56efa7ab4929e669264a0258976741dfbe3288bfb49828e5df02c2e633df38d2245e30162ae7e3bcca5b8b49345',
};

export interface PtauSource {
  path: string;
  /** How it was obtained: `given`, `hermez` or `dev` (a local ceremony, not for production). */
  origin: 'given' | 'hermez' | 'dev';
}

export function fileHash(path: string, algorithm: 'sha256' | 'blake2b512'): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash(algorithm);
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}

async function download(power: number, dir: string, fetchFile: typeof fetch): Promise<string | undefined> {
  const name = `powersOfTau28_hez_final_${String(power).padStart(2, '0')}.ptau`;
  const path = join(dir, name);
  if (existsSync(path)) return path;
  const url = `https://storage.googleapis.com/zkevm/ptau/${name}`;
  log.info(`downloading ${name}`);
  let response: Response;
  try {
    response = await fetchFile(url, { signal: AbortSignal.timeout(600_000) });
  } catch (error) {
    log.info('no download possible; falling back to a local development ceremony', {
      reason: (error as Error).message,
    });
    return undefined;
  }
  if (!response.ok) return undefined;
  const temporary = `${path}.download`;
  writeFileSync(temporary, Buffer.from(await response.arrayBuffer()));
  const hash = await fileHash(temporary, 'blake2b512');
  if (hash !== hermezHashes[power]) throw new Error(`${name}: blake2b ${hash} differs from the published hash`);
  renameSync(temporary, path);
  return path;
}

/** A local phase-1 ceremony: new, one random contribution, a random beacon, prepare phase 2. */
async function devCeremony(power: number, dir: string, onProgress: (stage: string) => void): Promise<string> {
  const final = join(dir, `dev_pot${power}_final.ptau`);
  if (existsSync(final)) return final;
  log.warn(`running a local powers-of-tau ceremony for 2^${power}: DEVELOPMENT ONLY, NOT FOR PRODUCTION`);
  const logger = snarkjsLogger('ptau');
  const curve = await snarkjs.curves.getCurveFromName('bn128');
  const steps = ['new', 'contribute', 'beacon', 'prepare phase 2'];
  const files = steps.map((_, i) => join(dir, `dev_pot${power}_${i}.ptau`));
  onProgress(`powers of tau 2^${power}: ${steps[0]}`);
  await snarkjs.powersOfTau.newAccumulator(curve, power, files[0]!, logger);
  onProgress(`powers of tau 2^${power}: ${steps[1]}`);
  await snarkjs.powersOfTau.contribute(files[0]!, files[1]!, 'zkfl dev', randomBytes(32).toString('hex'), logger);
  onProgress(`powers of tau 2^${power}: ${steps[2]}`);
  await snarkjs.powersOfTau.beacon(
    files[1]!,
    files[2]!,
    'zkfl dev beacon',
    randomBytes(32).toString('hex'),
    10,
    logger,
  );
  onProgress(`powers of tau 2^${power}: ${steps[3]}`);
  await snarkjs.powersOfTau.preparePhase2(files[2]!, final, logger);
  return final;
}

/** Finds or makes a powers-of-tau file that holds 2^power constraints; `fetchFile` downloads (tests replace it). */
export async function resolvePtau(
  power: number,
  given: string | undefined,
  dir: string,
  onProgress: (stage: string) => void,
  fetchFile: typeof fetch = fetch,
): Promise<PtauSource> {
  if (given) {
    if (!existsSync(given)) throw new Error(`powers-of-tau file ${given} does not exist`);
    return { path: given, origin: 'given' };
  }
  mkdirSync(dir, { recursive: true });
  const downloaded = hermezHashes[power] ? await download(power, dir, fetchFile) : undefined;
  if (downloaded) return { path: downloaded, origin: 'hermez' };
  return { path: await devCeremony(power, dir, onProgress), origin: 'dev' };
}
