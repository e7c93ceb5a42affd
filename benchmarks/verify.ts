/**
 * `npm run bench:verify`: how fast `zkfl verify` checks a run on this machine. (1) Proof throughput of the verifier
 * pool: 200 verifications of a default-circuit (D = 3150) chunk proof with 1 and 2 verifier processes. (2) The demo's
 * full run (4 clients, 5 rounds, public audit): `zkfl verify --bundle` wall time as a user runs it, process start
 * included, and the audit alone. Writes benchmarks/results/verify.{json,md}.
 *
 *   ZKFL_PTAU=… npm run bench:verify
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCircuit, terminateCurve } from '../circuits/build.js';
import { randomSalt } from '../circuits/commitment.js';
import { circuitParams } from '../circuits/params.js';
import { proveUpdate } from '../circuits/prover.js';
import { VerifierPool } from '../circuits/verifier.js';
import { runDemo } from '../demo/demo.js';
import { defaultFashionMnistDir } from '../demo/fashion-mnist.js';
import { auditRun } from '../verifier/run.js';
import { readBundle } from '../verifier/bundle.js';
import { machine } from './lib/machine.js';

const proofs = 200;
const artifacts = await buildCircuit(circuitParams.default, { ptau: process.env.ZKFL_PTAU });
const q = Int8Array.from({ length: circuitParams.default.chunkSize }, (_, i) => (i % 11) - 5);
const statement = {
  taskId: 't-bench',
  round: 1,
  address: '0x' + '11'.repeat(20),
  modelHash: 'ab'.repeat(32),
  clipSquareX96: (10n ** 6n) << 96n,
};
const [chunk] = await proveUpdate(statement, randomSalt(), q, [10], artifacts);
await terminateCurve();
const verificationKey = JSON.parse(readFileSync(artifacts.verificationKey, 'utf8')) as object;

const throughput: Array<{ processes: number; perSecond: number }> = [];
for (const processes of [1, 2]) {
  const pool = new VerifierPool(verificationKey, processes, 60_000);
  await pool.verify(chunk!.proof, chunk!.publicSignals); // start-up is not throughput
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: proofs }, () => pool.verify(chunk!.proof, chunk!.publicSignals)),
  );
  const seconds = (performance.now() - started) / 1000;
  pool.close();
  if (!results.every(Boolean)) throw new Error('a valid proof did not verify');
  throughput.push({ processes, perSecond: proofs / seconds });
}

const dir = mkdtempSync(join(tmpdir(), 'zkfl-bench-verify-'));
const bundleDir = join(dir, 'bundle');
await runDemo({
  clients: 4,
  rounds: 5,
  alpha: 0.5,
  seed: 1,
  dataDir: process.env.ZKFL_FASHION_MNIST ?? defaultFashionMnistDir,
  ptau: process.env.ZKFL_PTAU,
  auditOut: bundleDir,
});
const bundle = readBundle(bundleDir);
const auditStarted = performance.now();
const report = await auditRun(bundle);
const auditSeconds = (performance.now() - auditStarted) / 1000;
const cli = fileURLToPath(new URL('../bin/zkfl.js', import.meta.url));
const cliStarted = performance.now();
const run = spawnSync(process.execPath, [cli, 'verify', '--bundle', bundleDir, '--json', '--log-level', 'warn']);
const cliSeconds = (performance.now() - cliStarted) / 1000;
rmSync(dir, { recursive: true, force: true });
if (!report.ok || run.status !== 0)
  throw new Error(`the demo's run did not verify: ${JSON.stringify(report.problems)}`);

const md = [
  '# bench:verify',
  '',
  `Machine: ${machine()}. \`ZKFL_PTAU=… npm run bench:verify\`.`,
  '',
  `Proof throughput of the verifier pool (${proofs} verifications of one D = 3150 chunk proof, after start-up):`,
  '',
  '| verifier processes | proofs / s |',
  '|---:|---:|',
  ...throughput.map((row) => `| ${row.processes} | ${row.perSecond.toFixed(1)} |`),
  '',
  `The demo's full run (4 clients × 5 rounds = ${report.proofs.verified} proofs, public audit: every commitment and`,
  `aggregate recomputed too): \`zkfl verify --bundle\` **${cliSeconds.toFixed(1)} s** wall time, process start included;`,
  `the audit itself ${auditSeconds.toFixed(1)} s (proofs ${report.proofs.seconds.toFixed(1)} s, verifier processes' start-up included).`,
  'Online checks add one read per round and two event queries per task (not timed here: the demo stops its chain).',
  '',
].join('\n');
const results = {
  machine: machine(),
  throughput,
  demo: { proofs: report.proofs.verified, cliSeconds, auditSeconds, proofSeconds: report.proofs.seconds },
};
writeFileSync(new URL('./results/verify.json', import.meta.url), JSON.stringify(results, null, 2) + '\n');
writeFileSync(new URL('./results/verify.md', import.meta.url), md);
process.stdout.write(md);
process.exit(0);
