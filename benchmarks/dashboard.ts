/**
 * `npm run bench:dashboard`: what the dashboard costs a browser. Its bundle, gzipped (what the coordinator serves
 * at start, and what the form and "verify this run" load on demand), and the time from navigation to the full page of a finished
 * 50-round task (plot and tables drawn), in Debian's chromium. Writes results/dashboard.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { runClient } from '../client/client.js';
import { OwnerSession } from '../client/owner.js';
import { bundleDashboard } from '../coordinator/surface/dashboard.js';
import { startCoordinator } from '../coordinator/server.js';
import { launchChromium } from '../test/helpers/chromium.js';
import { bundleWeight } from './lib/bundle-weight.js';
import { machine } from './lib/machine.js';

const rounds = 50;
const loads = 5;
const dir = mkdtempSync(join(tmpdir(), 'zkfl-bench-dashboard-'));

const bundle = await bundleDashboard();
const kib = (bytes: number): string => (bytes / 1024).toFixed(1);
const weight = bundleWeight(bundle);
const startBytes = weight.atStart;
const formBytes = weight.onDemand(weight.named('new-task'));
const verifyBytes = weight.onDemand([...weight.named('verify-'), 'verify-worker.js']);

// A finished 50-round task: a small model, no proofs, one client — the page's cost is in the rounds it shows.
writeFileSync(
  join(dir, 'data.csv'),
  Array.from({ length: 200 }, (_, i) => `${i % 7},${i % 3},${i % 2},${(i % 5) / 5},${i % 2}`).join('\n'),
);
const coordinator = await startCoordinator({ port: 0, dataDir: join(dir, 'coordinator'), dataRoot: dir });
const browser = await launchChromium();
try {
  const owner = await OwnerSession.open(coordinator.url, Wallet.createRandom());
  const task = await owner.createTask({
    name: 'bench:dashboard',
    model: { preset: 'mlp', hidden: [8] },
    inputShape: [4],
    classes: 2,
    rounds,
    clientsPerRound: { min: 1, target: 1 },
    proofs: false,
    rewards: { scoringExamples: 50 },
    evaluation: { path: 'data.csv' },
  });
  process.stderr.write(`training ${rounds} rounds of ${task.id}\n`);
  await runClient({
    coordinatorUrl: coordinator.url,
    taskId: task.id,
    dataPath: join(dir, 'data.csv'),
    keyPath: join(dir, 'client.json'),
    agreeToTerms: () => Promise.resolve(true),
  });

  const times: number[] = [];
  for (let i = 0; i < loads; i++) {
    const page = await browser.newPage();
    const started = performance.now();
    await page.goto(`${coordinator.url}/#/tasks/${task.id}`);
    await page.locator(`figure.plot[data-points="${rounds}"]`).waitFor();
    await page.locator('h2:text-is("Participants") + div tbody tr').first().waitFor();
    times.push(performance.now() - started);
    await page.close();
  }
  const sorted = [...times].sort((a, b) => a - b);
  const report =
    `Machine: ${machine()}; Debian chromium, headless.\n\n` +
    `| measure | value |\n|---|---:|\n` +
    `| served at start (HTML, JS, CSS), gzipped | ${kib(startBytes)} KiB |\n` +
    `| the owner form's chunks (schema, wallet client), gzipped, loaded on demand | ${kib(formBytes)} KiB |\n` +
    `| "verify this run": its page and worker (audit code, snarkjs), gzipped, loaded on demand | ${kib(verifyBytes)} KiB |\n` +
    `| first full render of a finished ${rounds}-round task (navigation to plot and tables), median of ${loads} | ${sorted[Math.floor(loads / 2)]!.toFixed(0)} ms |\n` +
    `| the same, slowest of ${loads} (includes the first load's compilation) | ${sorted.at(-1)!.toFixed(0)} ms |\n`;
  writeFileSync(new URL('./results/dashboard.md', import.meta.url), report);
  process.stdout.write(report);
} finally {
  await browser.close();
  await coordinator.close();
  rmSync(dir, { recursive: true, force: true });
}
