/**
 * `npm run bench:audit-stream`: what serving a large audit bundle costs a coordinator. A real coordinator process
 * serves a finished task of `rounds` signed records of about `recordMiB` each (written straight into its storage:
 * a long public audit's worth, without running it), to one reader and then to `readers` at once, each reading the
 * whole answer and keeping none of it. Measured: the coordinator's resident memory before and at its peak, the bytes
 * served, and the time; the same for the task's rounds (`GET /api/tasks/:id/rounds`), whose rows hold the records
 * too. `-- --label TEXT` names the row (to compare a build before a change). Appends to
 * results/audit-stream.md.
 */
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LARGE_TASK_ID, writeLargeTask } from '../test/helpers/large-audit.js';
import { machine, rssMiB } from './lib/machine.js';
import { startCoordinatorProcess } from './lib/processes.js';

const { values: options } = parseArgs({ options: { label: { type: 'string' } } });
const rounds = 100;
const updatesPerRound = 500;
const readers = 4;
/** Readers that stall at once: one address's allowance of open HTTP connections (`rate.httpConnectionsPerIp`). */
const stalledReaders = 64;
const stallSeconds = 70;

/** Reads the whole answer, keeping nothing: how many bytes it was. */
function readAll(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    httpRequest(url, (response) => {
      let bytes = 0;
      response.on('data', (part: Buffer) => (bytes += part.length));
      response.on('end', () =>
        response.statusCode === 200 ? resolve(bytes) : reject(new Error(`answered ${response.statusCode}`)),
      );
      response.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** `count` readers at once, with the coordinator's peak memory meanwhile. */
/** The process's resident memory now, and a sampler of its peak from now until `peak()` is called. */
function watchMemory(pid: number): { before: number; peak: () => number } {
  const before = rssMiB(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 20);
  return { before, peak: () => (clearInterval(sampler), peak) };
}

async function serve(url: string, pid: number, count: number) {
  const memory = watchMemory(pid);
  const started = performance.now();
  const bytes = await Promise.all(Array.from({ length: count }, () => readAll(url)));
  const seconds = (performance.now() - started) / 1000;
  const peak = memory.peak();
  return { before: memory.before, peak, served: bytes.reduce((sum, each) => sum + each, 0), seconds };
}

/**
 * `count` readers that take the answer's first bytes and then read nothing, as one attacker address's connections
 * may, for `stallSeconds` (past the coordinator's 60 s stall limit): the coordinator's peak memory meanwhile, its
 * memory at the end, how many readers it refused, and how many of those it served it cut off. A paused reader cannot
 * see its connection cut, so each is read on at the end: one cut off ends incomplete at once.
 */
async function stall(url: string, pid: number, count: number) {
  const memory = watchMemory(pid);
  let refused = 0;
  const held: IncomingMessage[] = [];
  const requests = Array.from({ length: count }, () =>
    httpRequest(url, (response) => {
      if (response.statusCode === 429) {
        refused++;
        return void response.resume();
      }
      response.on('error', () => undefined);
      response.once('data', () => response.pause());
      held.push(response);
    }).on('error', () => undefined),
  );
  for (const request of requests) request.end();
  await new Promise((resolve) => setTimeout(resolve, stallSeconds * 1000));
  const peak = memory.peak();
  const after = rssMiB(pid);
  const cutOff = await Promise.all(
    held.map(
      (response) =>
        new Promise<boolean>((resolve) => {
          response.once('close', () => resolve(!response.complete));
          setTimeout(() => resolve(false), 1000);
          response.resume();
        }),
    ),
  );
  for (const request of requests) request.destroy();
  return { before: memory.before, peak, after, refused, cut: cutOff.filter(Boolean).length };
}

const dir = mkdtempSync(join(tmpdir(), 'zkfl-audit-stream-'));
const dataDir = join(dir, 'coordinator');
const bundleBytes = await writeLargeTask(dataDir, rounds, updatesPerRound);
const { child, url } = await startCoordinatorProcess(dataDir);
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const rows: string[] = [];
/** The two answers that grow with every round: the audit bundle, and the rounds (which read past the records). */
const paths = {
  'audit bundle': `/api/audit/tasks/${LARGE_TASK_ID}`,
  rounds: `/api/tasks/${LARGE_TASK_ID}/rounds`,
};
for (const [answer, path] of Object.entries(paths)) {
  for (const count of [1, readers]) {
    const { before, peak, served, seconds } = await serve(`${url}${path}`, child.pid!, count);
    const size = served / count < 2 ** 20 ? `${(served / count / 1024).toFixed(0)} KiB` : `${mib(served / count)} MiB`;
    rows.push(
      `| ${options.label ?? 'streamed'} | ${answer} | ${count} | ${size} | ${before.toFixed(0)} MiB | ${peak.toFixed(0)} MiB | ${(peak - before).toFixed(0)} MiB | ${seconds.toFixed(1)} |`,
    );
    console.log(rows.at(-1));
  }
}
{
  const { before, peak, after, refused, cut } = await stall(
    `${url}${paths['audit bundle']}`,
    child.pid!,
    stalledReaders,
  );
  rows.push(
    `| ${options.label ?? 'streamed'} | audit bundle, readers that stall (${refused} refused, ${cut} of ${stalledReaders - refused} cut off) | ${stalledReaders} | | ${before.toFixed(0)} MiB | ${peak.toFixed(0)} MiB (${after.toFixed(0)} MiB after ${stallSeconds} s) | ${(peak - before).toFixed(0)} MiB | ${stallSeconds} |`,
  );
  console.log(rows.at(-1));
}
child.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });

const file = new URL('./results/audit-stream.md', import.meta.url);
if (!existsSync(file))
  writeFileSync(
    file,
    `${machine()}. A finished task of ${rounds} signed records of ${updatesPerRound} updates each (${mib(bundleBytes)} MiB of records), ` +
      'served by a coordinator process (`GET /api/audit/tasks/:id`, and its rounds: `GET /api/tasks/:id/rounds`) to readers that keep nothing; its resident memory before and at its peak.\n\n' +
      '| build | answer | readers at once | size | coordinator before | peak | grew | seconds |\n|---|---|---:|---:|---:|---:|---:|---:|\n',
  );
appendFileSync(file, rows.join('\n') + '\n');
