/**
 * `npm run bench:scale`: one coordinator process, N ∈ {10, 100, 1000} simulated clients in this process — real
 * logins and socket.io connections sending valid quantized updates of the demo model's size, no training and no
 * proofs (see bench:prove for those). Reports round time and the coordinator's peak memory per N and storage
 * engine (SQLite in the data directory; PostgreSQL started here on loopback), and writes
 * benchmarks/results/scale.{json,md}.
 *
 *   npm run bench:scale [-- --clients 10,100,1000 --rounds 3 --engines sqlite,postgres]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { OwnerSession } from '../client/owner.js';
import { circuitParams } from '../circuits/params.js';
import { signConsent } from '../protocol/terms.js';
import { parseArgs } from 'node:util';
import { Wallet } from 'ethers';
import { io, type Socket } from 'socket.io-client';
import { demoTask } from '../demo/demo.js';
import { fashionMnist } from '../demo/fashion-mnist.js';
import { type RoundEndPayload, type RoundStartPayload } from '../protocol/events.js';
import { CoordinatorApi } from '../protocol/api.js';
import { signIn } from '../protocol/sign-in.js';
import { machine, peakRssMiB, rssMiB } from './lib/machine.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { startCoordinatorProcess } from './lib/processes.js';

const { values } = parseArgs({
  options: { clients: { type: 'string' }, rounds: { type: 'string' }, engines: { type: 'string' } },
});
const sizes = (values.clients ?? '10,100,1000').split(',').map(Number);
const engines = (values.engines ?? 'sqlite,postgres').split(',') as Array<'sqlite' | 'postgres'>;
const rounds = Number(values.rounds ?? 3);
const data = fashionMnist(process.env.ZKFL_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist');

interface Row {
  engine: 'sqlite' | 'postgres';
  clients: number;
  params: number;
  connectSeconds: number;
  roundSeconds: number[];
  /** Coordinator RSS once all N clients are connected and round 1 is over. */
  idleRssMiB: number;
  /** Highest RSS sampled (every 50 ms) during rounds ≥ 2. */
  roundPeakRssMiB: number;
  /** VmHWM over the coordinator's whole life, logins included. */
  peakRssMiB: number;
}

/** A logged-in, joined client that answers every round:start; `onStart` sees each round:start first. */
async function connectClient(
  url: string,
  taskId: string,
  numParams: number,
  onStart: (round: number) => void,
): Promise<Socket> {
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  const api = new CoordinatorApi(url);
  const nonce = await api.nonce();
  const socket = io(url, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    auth: await signIn(wallet, url, nonce),
  });
  // A fixed small quantized update: what matters here is its size and validity, not its value.
  const q = new Uint8Array(numParams).fill(1);
  const fractionBits = Array<number>(Math.ceil(numParams / circuitParams.default15.chunkSize)).fill(10);
  socket.on('round:start', (start: RoundStartPayload) => {
    onStart(start.round);
    socket.emit('update', { taskId, round: start.round, numSamples: 100, q, fractionBits }, () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const { terms, termsHash } = await api.terms(taskId);
  const consent = await signConsent(wallet, terms.taskKey, termsHash);
  await socket.timeout(60_000).emitWithAck('join', { taskId, consent });
  return socket;
}

async function measure(clients: number, engine: Row['engine']): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'zkfl-scale-'));
  // N simulated clients sign in from one address within seconds: above the per-IP defaults meant for the internet.
  const limits = join(dir, 'limits.json');
  const perIp = { noncesPerMinute: 10 * clients, signInsPerMinute: 10 * clients, connectionsPerIp: 2 * clients };
  writeFileSync(limits, JSON.stringify({ rate: perIp }));
  const { child, url } = await startCoordinatorProcess(join(dir, 'coordinator'), [
    '--data-root',
    dirname(data.test),
    '--limits',
    limits,
    ...(engine === 'postgres' ? ['--database', await postgres!.database(`scale_${clients}`)] : []),
  ]);
  try {
    const spec = {
      ...demoTask({ clients, rounds, seed: 1 }, { path: basename(data.test), limit: 1000 }),
      clientsPerRound: { min: clients, target: clients },
      // 1,000 clients cannot each prove every round here (~5 s a proof): this measures transport, checks and
      // aggregation; bench:prove measures verification, which adds N × (verify time) / verifier processes.
      proofs: false,
      // Scoring N updates is the coordinator's other per-round work: a small, fixed budget here.
      rewards: { scoringExamples: 100, scoringBudget: 200 },
      roundDeadlineSeconds: 600,
    };
    const task = await (await OwnerSession.open(url, Wallet.createRandom())).createTask(spec);
    const roundStarts = new Map<number, number>();
    const roundSeconds: number[] = [];
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    let idleRssMiB = Number.NaN;
    let roundPeakRssMiB = 0;
    let sampler: NodeJS.Timeout | undefined;
    const markStart = (round: number): void => void (roundStarts.has(round) || roundStarts.set(round, Date.now()));
    const watch = (socket: Socket): void => {
      socket.on('round:end', (end: RoundEndPayload) => {
        if (roundSeconds.length >= end.round) return;
        roundSeconds.push((Date.now() - roundStarts.get(end.round)!) / 1000);
        process.stderr.write(`  ${engine} N=${clients} round ${end.round}: ${roundSeconds.at(-1)!.toFixed(2)} s\n`);
        if (end.round === 1) {
          idleRssMiB = rssMiB(child.pid!);
          sampler = setInterval(() => (roundPeakRssMiB = Math.max(roundPeakRssMiB, rssMiB(child.pid!))), 50);
        }
        if (end.round === rounds) {
          clearInterval(sampler);
          resolveDone();
        }
      });
    };
    // Round 1 starts with the first join and waits for all N, so it includes the logins; later rounds do not.
    const started = Date.now();
    const sockets: Socket[] = [];
    for (let i = 0; i < clients; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, clients - i) }, () => connectClient(url, task.id, task.numParams, markStart)),
      );
      batch.forEach(watch);
      sockets.push(...batch);
    }
    const connectSeconds = (Date.now() - started) / 1000;
    process.stderr.write(`  N=${clients}: ${clients} connected and joined in ${connectSeconds.toFixed(1)} s\n`);
    await done;
    const row = {
      engine,
      clients,
      params: task.numParams,
      connectSeconds,
      roundSeconds,
      idleRssMiB,
      roundPeakRssMiB,
      peakRssMiB: peakRssMiB(child.pid!),
    };
    for (const socket of sockets) socket.disconnect();
    return row;
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const postgres = engines.includes('postgres') ? await startPostgres() : undefined;
const rows: Row[] = [];
try {
  for (const engine of engines) for (const clients of sizes) rows.push(await measure(clients, engine));
} finally {
  await postgres?.stop();
}

// Round 1 includes the logins, so the median is over the later rounds.
const median = (values: number[]): number => {
  const later = values.length > 1 ? values.slice(1) : values;
  return [...later].sort((a, b) => a - b)[Math.floor(later.length / 2)]!;
};
const table = [
  '| storage | clients | round time, median of rounds ≥ 2 (s) | rounds (s) | coordinator RSS idle, N connected (MiB) | peak RSS in rounds ≥ 2 (MiB) | peak − idle (MiB) | peak RSS over the run (MiB) | connect + login (s) |',
  '|---|---:|---:|---|---:|---:|---:|---:|---:|',
  ...rows.map(
    (row) =>
      `| ${row.engine} | ${row.clients} | ${median(row.roundSeconds).toFixed(2)} | ${row.roundSeconds.map((s) => s.toFixed(2)).join(', ')} | ${row.idleRssMiB.toFixed(0)} | ${row.roundPeakRssMiB.toFixed(0)} | ${(row.roundPeakRssMiB - row.idleRssMiB).toFixed(0)} | ${row.peakRssMiB.toFixed(0)} | ${row.connectSeconds.toFixed(1)} |`,
  ),
].join('\n');
const header = `Machine: ${machine()}. Model: the demo's CNN, ${rows[0]?.params} parameters (${((rows[0]?.params ?? 0) / 1024).toFixed(1)} KiB per int8 update). All N clients sampled every round; round time runs from the first round:start to round:end and includes scoring (Shapley values, at most 200 evaluations on 100 images) and the evaluation on 1,000 test images. Proofs off: verification adds N × (verify time, bench:prove) / (verifier processes) per round.`;
writeFileSync(
  new URL('./results/scale.json', import.meta.url),
  JSON.stringify({ machine: machine(), rows }, null, 2) + '\n',
);
writeFileSync(new URL('./results/scale.md', import.meta.url), `${header}\n\n${table}\n`);
process.stdout.write(`${header}\n\n${table}\n`);
process.exit(0);
