/**
 * `npm run bench:browser`: the contributor page against the Node client, on the same task spec and the same data (a
 * CSV file of Fashion-MNIST examples), each alone on the machine: training seconds per epoch, proving seconds per
 * chunk, peak memory (the browser's renderer processes; the client's process and its prover), and their ratios; and
 * the page's weight, gzipped, at start and on demand. Needs the tests' circuit (`default15`, built on first use from
 * ZKFL_PTAU). Writes results/browser.md.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Wallet } from 'ethers';
import type { ClientEvent } from '../client/core/round-loop.js';
import { OwnerSession } from '../client/owner.js';
import { bundleDashboard } from '../coordinator/surface/dashboard.js';
import { startCoordinator } from '../coordinator/server.js';
import { launchChromium } from '../test/helpers/chromium.js';
import { circuit } from '../test/helpers/circuits.js';
import { dataRoot, smallTask, writeCsv } from '../test/helpers/fixtures.js';
import type { TaskSpecInput } from '../protocol/task-spec.js';
import { bundleWeight, gzipped } from './lib/bundle-weight.js';
import { machine, rssMiB } from './lib/machine.js';
import { spawnZkfl } from './lib/processes.js';

const rounds = Number(process.env.ZKFL_BENCH_ROUNDS ?? 6);
const examples = 600;
const dir = mkdtempSync(join(tmpdir(), 'zkfl-bench-browser-'));
/**
 * Two updates: the tests' CNN (2,724 parameters, one chunk of `default15`: the page and the Node prover both spread it
 * over every core), and a wider one (8,882 parameters, three chunks of `default15`: both share the
 * chunks out over the cores, so this is closer to what a chunk costs each when both keep every core busy).
 */
interface Model {
  label: string;
  filters: number[];
}
const models: Model[] = [
  { label: 'one chunk', filters: [4, 10] },
  { label: 'three chunks', filters: [8, 24] },
];
const specOf = ({ filters }: Model): TaskSpecInput =>
  smallTask({
    name: 'bench:browser',
    rounds,
    clientsPerRound: { min: 1, target: 1 },
    model: { preset: 'cnn', filters, hidden: [] },
  });

/** Per round: training seconds (over its epochs) and proving seconds per chunk. */
interface Timings {
  train: number[];
  prove: number[];
}

/** The largest summed resident memory of the processes `pids()` names, sampled until stopped. */
function peakMemory(pids: () => number[]): { stop(): number } {
  let peak = 0;
  const sample = (): void => {
    const total = pids().reduce((sum, pid) => sum + (residentMiB(pid) ?? 0), 0);
    peak = Math.max(peak, total);
  };
  const timer = setInterval(sample, 200);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}
/** A process's resident memory, or undefined once it has gone. */
function residentMiB(pid: number): number | undefined {
  try {
    const rss = rssMiB(pid);
    return Number.isNaN(rss) ? undefined : rss;
  } catch {
    return undefined;
  }
}

/** Chromium's renderer processes: where the page and its workers run. */
const renderers = (): number[] =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer');
      } catch {
        return false;
      }
    })
    .map(Number);

/** A process and its descendants. */
function tree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
  return [pid, ...children.flatMap(tree)];
}

async function newTask(url: string, model: Model): Promise<string> {
  const owner = await OwnerSession.open(url, Wallet.createRandom());
  return (await owner.createTask(specOf(model))).id;
}

/** The page contributes to a task of its own; its rounds' times are read off the rounds table. */
async function browserRun(
  url: string,
  csv: string,
  model: Model,
): Promise<Timings & { memory: number; backend: string }> {
  const taskId = await newTask(url, model);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    // The worker's log says which TF.js build it trains with (threads where the page is cross-origin isolated).
    let backend = '';
    page.on('console', (message) => void (/TF\.js backend/.test(message.text()) && (backend = message.text())));
    await page.goto(`${url}/#/tasks/${taskId}/contribute`);
    await page.getByLabel('Password').fill('benchmark password');
    await page.getByRole('button', { name: 'Create a new key' }).click();
    await page.getByText(/unlocked for this visit/).waitFor({ timeout: 120_000 });
    await page.getByLabel('Data file (CSV)').setInputFiles(csv);
    await page.getByText(/checked against the task/).waitFor();
    const memory = peakMemory(renderers);
    await page.getByRole('button', { name: /I agree/ }).click();
    await page.getByText(/The task is completed/).waitFor({ timeout: 1_800_000 });
    const rows = await page.locator('table[data-rounds] tbody tr').all();
    const times = async (name: string): Promise<number[]> =>
      Promise.all(rows.map(async (row) => Number(await row.getAttribute(name))));
    const chunks = await times('data-prove-chunks');
    return {
      train: await times('data-train-seconds'),
      prove: (await times('data-prove-seconds')).map((seconds, i) => seconds / chunks[i]!),
      memory: memory.stop(),
      backend: backend.replace(/^.*TF\.js backend: /, ''),
    };
  } finally {
    await browser.close();
  }
}

/** `zkfl client` contributes to a task of its own; its rounds' times come from its JSON progress events. */
async function nodeRun(url: string, csv: string, model: Model): Promise<Timings & { memory: number }> {
  const taskId = await newTask(url, model);
  const child = spawnZkfl([
    ...['client', '--coordinator', url, '--task', taskId, '--data', csv, '--key', join(dir, 'node-key.json')],
    ...['--accept-terms', '--progress', 'json', '--log-level', 'warn'],
  ]);
  const memory = peakMemory(() => tree(child.pid!));
  const timings: Timings = { train: [], prove: [] };
  for await (const line of createInterface({ input: child.stdout! })) {
    const event = JSON.parse(line) as ClientEvent | { type: 'summary' };
    if (event.type === 'trained') timings.train.push(event.seconds);
    if (event.type === 'proved') timings.prove.push(event.seconds / event.chunks);
  }
  return { ...timings, memory: memory.stop() };
}

/** The median over the rounds after the first (which warms the backend and the prover up). */
const steady = (values: number[]): number =>
  values.slice(1).sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

/** Gzipped KiB the page loads at start, and what the contributor page adds on demand. */
async function pageWeight(): Promise<{ start: number; contribute: number; wasm: number }> {
  const bundle = await bundleDashboard();
  const weight = bundleWeight(bundle);
  return {
    start: weight.atStart / 1024,
    contribute: weight.onDemand([...weight.named('contribute'), 'prove-worker.js']) / 1024,
    wasm: gzipped(bundle.wasm.get('tfjs-backend-wasm-threaded-simd.wasm')!) / 1024,
  };
}

await circuit('default15');
const csv = writeCsv(join(dir, 'holder.csv'), examples);
const coordinator = await startCoordinator({ port: 0, dataDir: join(dir, 'coordinator'), dataRoot });
const row = (label: string, page: number, client: number, unit: string): string =>
  `| ${label} | ${page.toFixed(2)} ${unit} | ${client.toFixed(2)} ${unit} | ${(page / client).toFixed(2)} |\n`;
const list = (values: number[]): string => values.map((value) => value.toFixed(2)).join(', ');
try {
  let report = `Machine: ${machine()}; Debian chromium, headless. ${examples} examples, batch 32, ${rounds} rounds each, each alone on the machine; medians over the rounds after the first.\n`;
  for (const model of models) {
    process.stderr.write(`${model.label}: the page, ${rounds} rounds\n`);
    const browser = await browserRun(coordinator.url, csv, model);
    process.stderr.write(`${model.label}: the Node client, ${rounds} rounds\n`);
    const node = await nodeRun(coordinator.url, csv, model);
    report +=
      `\n### ${model.label} (\`cnn\`, filters ${model.filters.join(', ')})\n\nThe page's TF.js: ${browser.backend}; Node's: wasm with SIMD, one thread (TF.js has no threads in Node).\n\n` +
      `| measure | page | Node client | page / Node |\n|---|---:|---:|---:|\n` +
      row('training, seconds per epoch', steady(browser.train), steady(node.train), 's') +
      row('proving, seconds per chunk', steady(browser.prove), steady(node.prove), 's') +
      row('peak memory (page: renderer processes; Node: client and prover)', browser.memory, node.memory, 'MiB') +
      `\nPer round (s): page training ${list(browser.train)}; proving per chunk ${list(browser.prove)}. Node training ${list(node.train)}; proving per chunk ${list(node.prove)}.\n`;
  }
  const weight = await pageWeight();
  report += `\nPage weight, gzipped: ${weight.start.toFixed(1)} KiB at start (the dashboard); the contributor page and its workers (client core, TF.js, snarkjs, ethers; the prover workers) ${weight.contribute.toFixed(1)} KiB on demand, plus TF.js's wasm ${weight.wasm.toFixed(1)} KiB (the threaded SIMD build); the circuit's proving key is fetched once and kept in Cache Storage.\n`;
  writeFileSync(new URL('./results/browser.md', import.meta.url), report);
  process.stdout.write(report);
} finally {
  await coordinator.close();
  rmSync(dir, { recursive: true, force: true });
}
