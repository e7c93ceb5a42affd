/**
 * `npm run bench:msm`: where one chunk's proof spends its time, in Node and in a Chromium worker (as the contributor
 * page proves), with ffjavascript's multi-scalar multiplications and with circuits/multiexp.ts's, on one thread and
 * on snarkjs's helper threads: the witness, snarkjs's JavaScript building A, B and C, the FFTs, the five multi-scalar
 * multiplications, the whole proof; page ÷ Node, and ours ÷ ffjavascript's. Medians over the proofs after the first;
 * every proof is verified. Needs the tests' circuit (`default15`, built on first use from ZKFL_PTAU). Writes
 * results/msm.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WitnessCalculatorBuilder } from 'circom_runtime';
import { build } from 'esbuild';
import * as snarkjs from 'snarkjs';
import { randomSalt } from '../circuits/salt.js';
import { chunkInputs } from '../circuits/statement.js';
import { launchChromium } from '../test/helpers/chromium.js';
import { circuit } from '../test/helpers/circuits.js';
import { machine } from './lib/machine.js';
import { type PhaseOptions, type PhaseRun, type Phases, proofPhases } from './lib/proof-phases.js';
import type { PhaseRequest } from './lib/proof-phases-worker.js';
import { quantizedUpdate } from './lib/quantized-update.js';

const runs = Number(process.env.ZKFL_BENCH_RUNS ?? 6);
const artifacts = await circuit('default15');
const wasm = new Uint8Array(readFileSync(artifacts.wasm));
const zkey = new Uint8Array(readFileSync(artifacts.zkey));
const verificationKey = JSON.parse(readFileSync(artifacts.verificationKey, 'utf8')) as object;
const { q, fractionBits, statement } = quantizedUpdate(artifacts.params, artifacts.params.chunkSize);
const input = chunkInputs(statement, randomSalt(), q, fractionBits, artifacts.params)[0]!;

/** How many of the chunk's witness values are 0, fit one byte, two, or are wider: what the grouped sums exploit. */
async function witnessWidths(): Promise<string> {
  const calculator = await WitnessCalculatorBuilder(wasm);
  const values = await calculator.calculateWitness(input, true);
  const bytes = values.map((value) => Math.ceil(value.toString(2).length / 8) * Number(value !== 0n));
  const count = (test: (width: number) => boolean): number => bytes.filter(test).length;
  return `${values.length} witness values: ${count((b) => b === 0)} are 0, ${count((b) => b === 1)} fit one byte, ${count((b) => b === 2)} two, ${count((b) => b > 2)} are wider`;
}

type Where = 'Node' | 'page';
interface Setting {
  grouped: boolean;
  singleThread: boolean;
}
const settings: Setting[] = [false, true].flatMap((grouped) =>
  [true, false].map((singleThread) => ({ grouped, singleThread })),
);
const keyOf = (where: Where, { grouped, singleThread }: Setting): string => `${where} ${grouped} ${singleThread}`;

/** The page's side: the worker bundle, the circuit's files and a blank page, cross-origin isolated as zkfl serves. */
async function pageServer(): Promise<{ url: string; close(): void }> {
  const bundle = await build({
    entryPoints: [new URL('./lib/proof-phases-worker.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
  });
  const files: Record<string, [string, string | Uint8Array]> = {
    '/worker.js': ['text/javascript', bundle.outputFiles[0]!.text],
    '/circuit.wasm': ['application/wasm', wasm],
    '/circuit.zkey': ['application/octet-stream', zkey],
    '/': ['text/html', '<!doctype html><title>bench:msm</title>'],
  };
  const server = createServer((request, response) => {
    const [type, body] = files[request.url ?? '/'] ?? files['/']!;
    response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    response.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    response.setHeader('Content-Type', type);
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => server.close() };
}

/** A Web Worker as the page sees it (the benchmarks' typecheck has no DOM library). */
interface PageWorker {
  onmessage: ((event: { data: PhaseRun | { error: string } }) => void) | null;
  postMessage(message: PhaseRequest): void;
  terminate(): void;
}

/**
 * Proves in a fresh worker of `page` with `options`. The function runs in the page, as written: it names no inner
 * function, since tsx would wrap it in a helper the page does not have.
 */
function inPage(page: import('playwright-core').Page, options: PhaseOptions): Promise<PhaseRun> {
  return page.evaluate(
    async (request) => {
      const [wasm, zkey] = await Promise.all(
        ['/circuit.wasm', '/circuit.zkey'].map(async (path) => new Uint8Array(await (await fetch(path)).arrayBuffer())),
      );
      const { Worker } = globalThis as unknown as { Worker: new (url: string, options: object) => PageWorker };
      const worker = new Worker('/worker.js', { type: 'module' });
      const reply = await new Promise<PhaseRun | { error: string }>((resolve) => {
        worker.onmessage = ({ data }) => resolve(data);
        worker.postMessage({ ...request, wasm: wasm!, zkey: zkey! });
      });
      worker.terminate();
      if ('error' in reply) throw new Error(reply.error);
      return reply;
    },
    { ...options, input },
  );
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const phaseNames = ['witness', 'abc', 'ffts', 'msms', 'total'] as const;

/** Each phase's median over the proofs after the first (which builds the curve's threads); throws on a bad proof. */
async function steady(run: PhaseRun): Promise<Phases> {
  for (const { proof, publicSignals } of run.proofs) {
    if (!(await snarkjs.groth16.verify(verificationKey, publicSignals, proof)))
      throw new Error('a proof did not verify');
  }
  const later = run.phases.slice(1);
  const at = (name: keyof Phases): number => median(later.map((phases) => phases[name]));
  return { witness: at('witness'), abc: at('abc'), ffts: at('ffts'), msms: at('msms'), total: at('total') };
}

const results = new Map<string, Phases>();
for (const setting of settings) {
  results.set(keyOf('Node', setting), await steady(await proofPhases(wasm, zkey, input, { ...setting, runs })));
}
const server = await pageServer();
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(server.url);
  for (const setting of settings) {
    results.set(keyOf('page', setting), await steady(await inPage(page, { ...setting, runs })));
  }
} finally {
  await browser.close();
  server.close();
}

const label = ({ grouped, singleThread }: Setting): string =>
  `${grouped ? 'grouped (circuits/multiexp.ts)' : "ffjavascript's"} | ${singleThread ? 'one' : 'helpers'}`;
const ms = (value: number): string => value.toFixed(0);
const ratio = (a: number, b: number): string => (a / b).toFixed(2);

let report = `Machine: ${machine()}; Debian chromium, headless. One \`default15\` chunk (${artifacts.params.chunkSize} values, a Gaussian update quantized as a client quantizes it), proven ${runs} times per setting; medians over the proofs after the first, in ms; every proof verified. Its ${await witnessWidths()}.\n\n`;
report += `| multiexp | threads | where | witness | A, B, C (JavaScript) | FFTs | multi-scalar multiplications | whole proof |\n|---|---|---|---:|---:|---:|---:|---:|\n`;
for (const setting of settings) {
  for (const where of ['Node', 'page'] as const) {
    const phases = results.get(keyOf(where, setting))!;
    report += `| ${label(setting)} | ${where} | ${phaseNames.map((name) => ms(phases[name])).join(' | ')} |\n`;
  }
}
report += `\n| multiexp | threads | page ÷ Node: multi-scalar multiplications | page ÷ Node: whole proof |\n|---|---|---:|---:|\n`;
for (const setting of settings) {
  const [node, page] = [results.get(keyOf('Node', setting))!, results.get(keyOf('page', setting))!];
  report += `| ${label(setting)} | ${ratio(page.msms, node.msms)} | ${ratio(page.total, node.total)} |\n`;
}
report += `\n| threads | where | grouped ÷ ffjavascript's: multi-scalar multiplications | whole proof |\n|---|---|---:|---:|\n`;
for (const singleThread of [true, false]) {
  for (const where of ['Node', 'page'] as const) {
    const theirs = results.get(keyOf(where, { grouped: false, singleThread }))!;
    const ours = results.get(keyOf(where, { grouped: true, singleThread }))!;
    report += `| ${singleThread ? 'one' : 'helpers'} | ${where} | ${ratio(ours.msms, theirs.msms)} | ${ratio(ours.total, theirs.total)} |\n`;
  }
}
writeFileSync(new URL('./results/msm.md', import.meta.url), report);
console.log(report);
process.exit(0);
