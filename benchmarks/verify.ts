/**
 * `npm run bench:verify`: how fast `zkfl verify` checks a run on this machine. (1) Proof throughput of the verifier
 * pool: 200 verifications of a default-circuit (D = 3150) chunk proof with 1 and 2 verifier processes. (2) The demo's
 * full run (4 clients, 5 rounds, public audit): `zkfl verify --bundle` wall time as a user runs it, process start
 * included, and the audit alone; (3) the same bundle verified in Debian's chromium by the dashboard's "verify this
 * run" (a Web Worker with snarkjs). Writes benchmarks/results/verify.{json,md}.
 *
 *   ZKFL_PTAU=… npm run bench:verify
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VerifierPool } from '../circuits/verifier.js';
import { startCoordinator } from '../coordinator/server.js';
import { runDemo } from '../demo/demo.js';
import { defaultFashionMnistDir } from '../demo/fashion-mnist.js';
import { auditRun } from '../verifier/run.js';
import { readBundle } from '../verifier/bundle.js';
import type { AuditBundle } from '../protocol/audit.js';
import { launchChromium } from '../test/helpers/chromium.js';
import { defaultChunkProof } from './lib/chunk-proof.js';
import { machine } from './lib/machine.js';

const proofs = 200;
const { chunk, verificationKey } = await defaultChunkProof();

const throughput: Array<{ processes: number; perSecond: number }> = [];
for (const processes of [1, 2]) {
  const pool = new VerifierPool(verificationKey, processes, 60_000);
  await pool.verify(chunk.proof, chunk.publicSignals); // start-up is not throughput
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: proofs }, () => pool.verify(chunk.proof, chunk.publicSignals)),
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
if (!report.ok || run.status !== 0)
  throw new Error(`the demo's run did not verify: ${JSON.stringify(report.problems)}`);

// The same bundle in the browser: a coordinator serves the dashboard, the bundle is served at its audit route.
const coordinator = await startCoordinator({ port: 0, dataDir: join(dir, 'coordinator') });
const browser = await launchChromium();
async function verifyInBrowser(served: AuditBundle): Promise<{ seconds: number; proofSeconds: number; ok: boolean }> {
  const page = await browser.newPage();
  await page.route('**/api/audit/tasks/**', (route) => route.fulfill({ json: served }));
  const started = performance.now();
  await page.goto(`${coordinator.url}/#/tasks/${encodeURIComponent(served.task.id)}/verify`);
  const verdict = page.locator('[data-verdict]');
  await verdict.waitFor({ timeout: 600_000 });
  const result = {
    seconds: (performance.now() - started) / 1000,
    proofSeconds: Number(await verdict.getAttribute('data-proof-seconds')),
    ok: (await verdict.getAttribute('data-verdict')) === 'ok',
  };
  await page.close();
  return result;
}
const inBrowser = await verifyInBrowser(bundle);
if (!inBrowser.ok) throw new Error("the browser's verdict on the demo's run is not clean");
// Steady throughput: every round's updates repeated 10 times (200 proofs). Only the time counts: the verdict is
// 'failed' (duplicates, signatures), and the public audit is switched off so that neither side recomputes.
const repeated: AuditBundle = {
  ...bundle,
  task: { ...bundle.task, spec: { ...bundle.task.spec, publicAudit: false } },
  rounds: bundle.rounds.map((signed) => ({
    ...signed,
    record: { ...signed.record, accepted: Array.from({ length: 10 }, () => signed.record.accepted).flat() },
  })),
};
const manyInNode = await auditRun(repeated);
const manyInBrowser = await verifyInBrowser(repeated);
await browser.close();
await coordinator.close();
rmSync(dir, { recursive: true, force: true });

const row = (bundleName: string, verifier: string, count: number, seconds: number, whole: string): string =>
  `| ${bundleName} | ${verifier} | ${count} | ${seconds.toFixed(2)} s | ${(count / seconds).toFixed(1)} | ${whole} |`;
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
  'In the browser (the dashboard\'s "verify this run": one Web Worker, snarkjs; Debian chromium, headless; it does',
  "not recompute the public audit's aggregates and scores). Start-up is included on both sides: the verifier",
  "processes' in Node, the worker's curve in the browser. The second bundle repeats every round's updates 10 times",
  '(only the time counts; both sides report the duplicates):',
  '',
  '| bundle | verifier | proofs | proofs verified in | proofs / s | whole check |',
  '|---|---|---:|---:|---:|---:|',
  row(
    "the demo's run",
    `\`zkfl verify\` (${availableParallelism()} processes)`,
    report.proofs.verified,
    report.proofs.seconds,
    `${auditSeconds.toFixed(1)} s`,
  ),
  row(
    "the demo's run",
    'the browser',
    report.proofs.verified,
    inBrowser.proofSeconds,
    `${inBrowser.seconds.toFixed(1)} s, page load included`,
  ),
  row(
    'repeated ×10',
    `\`zkfl verify\` (${availableParallelism()} processes)`,
    manyInNode.proofs.verified,
    manyInNode.proofs.seconds,
    '–',
  ),
  row(
    'repeated ×10',
    'the browser',
    manyInNode.proofs.verified,
    manyInBrowser.proofSeconds,
    `${manyInBrowser.seconds.toFixed(1)} s, page load included`,
  ),
  '',
].join('\n');
const results = {
  machine: machine(),
  throughput,
  demo: { proofs: report.proofs.verified, cliSeconds, auditSeconds, proofSeconds: report.proofs.seconds },
  browser: inBrowser,
  repeated: { proofs: manyInNode.proofs.verified, nodeSeconds: manyInNode.proofs.seconds, browser: manyInBrowser },
};
writeFileSync(new URL('./results/verify.json', import.meta.url), JSON.stringify(results, null, 2) + '\n');
writeFileSync(new URL('./results/verify.md', import.meta.url), md);
process.stdout.write(md);
process.exit(0);
