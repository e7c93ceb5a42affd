/**
 * `npm run bench:audit-stream`: what serving a large audit bundle costs a coordinator. A real coordinator process
 * serves a finished task of `rounds` signed records of about `recordMiB` each (written straight into its storage:
 * a long public audit's worth, without running it), to one reader and then to `readers` at once, each reading the
 * whole answer and keeping none of it. Measured: the coordinator's resident memory before and at its peak, the bytes
 * served, and the time; the same for the task's rounds (`GET /api/tasks/:id/rounds`), whose rows hold the records
 * too. `-- --label TEXT` names the row (to compare a build before a change). Appends to
 * results/audit-stream.md.
 */
import { request as httpRequest } from 'node:http';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Storage } from '../coordinator/state/storage.js';
import type { AuditedUpdate, SignedRoundRecord } from '../protocol/audit.js';
import { parseTaskSpec } from '../protocol/task-spec.js';
import { storedZk } from '../test/helpers/storage-contract.js';
import { machine, rssMiB } from './lib/machine.js';
import { startCoordinatorProcess } from './lib/processes.js';

const { values: options } = parseArgs({ options: { label: { type: 'string' } } });
const rounds = 100;
const updatesPerRound = 500;
/** Public signals of a fake proof: about 8 KiB of decimal text per update, 4 MiB per record. */
const signalsPerUpdate = 100;
const readers = 4;

/** A signed record the size of a real one of `updatesPerRound` updates (the coordinator does not check it). */
function record(round: number): SignedRoundRecord {
  const accepted: AuditedUpdate[] = Array.from({ length: updatesPerRound }, (_, k) => ({
    address: `0x${(round * updatesPerRound + k).toString(16).padStart(40, '0')}`,
    numSamples: 1000,
    commitment: `0x${'ab'.repeat(32)}`,
    fractionBits: [12],
    proofs: [{ proof: { pi_a: [], pi_b: [], pi_c: [], protocol: 'groth16', curve: 'bn128' }, publicSignals: [] }],
    score: 0.001,
    amount: '1000',
  }));
  for (const update of accepted)
    update.proofs[0]!.publicSignals = Array.from({ length: signalsPerUpdate }, () => '1'.repeat(76));
  return {
    record: { round, taskId: 't-bench', accepted } as unknown as SignedRoundRecord['record'],
    signature: '0x00',
  };
}

/** A finished task of `rounds` records in the coordinator's own storage. */
async function writeTask(dataDir: string): Promise<number> {
  mkdirSync(dataDir, { recursive: true });
  const storage = await Storage.open(join(dataDir, 'coordinator.sqlite'));
  const spec = parseTaskSpec({
    name: 'audit-stream',
    model: { preset: 'mlp', hidden: [2] },
    inputShape: [2],
    classes: 2,
    rounds,
    clientsPerRound: { min: 1, target: updatesPerRound },
    proofs: false,
    evaluation: { path: 'unused.csv' },
  });
  await storage.tasks.create({ id: 't-bench', spec, zk: storedZk, numParams: 4, modelHash: '00'.repeat(32) });
  let bytes = 0;
  for (let round = 1; round <= rounds; round++) {
    const signed = record(round);
    bytes += JSON.stringify(signed).length;
    await storage.rounds.finish('t-bench', round, {
      accuracy: 0,
      loss: 0,
      modelHashAfter: '00'.repeat(32),
      last: round === rounds,
      signed,
    });
  }
  await storage.close();
  return bytes;
}

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
async function serve(url: string, pid: number, count: number) {
  const before = rssMiB(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 20);
  const started = performance.now();
  const bytes = await Promise.all(Array.from({ length: count }, () => readAll(url)));
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  return { before, peak, served: bytes.reduce((sum, each) => sum + each, 0), seconds };
}

const dir = mkdtempSync(join(tmpdir(), 'zkfl-audit-stream-'));
const dataDir = join(dir, 'coordinator');
const bundleBytes = await writeTask(dataDir);
const { child, url } = await startCoordinatorProcess(dataDir);
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const rows: string[] = [];
/** The two answers that grow with every round: the audit bundle, and the rounds (which read past the records). */
const paths = { 'audit bundle': '/api/audit/tasks/t-bench', rounds: '/api/tasks/t-bench/rounds' };
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
