/**
 * `npm run bench:scale`: one coordinator process, N ∈ {10, 100, 1000} simulated clients in this process — real
 * logins and socket.io connections sending valid quantized updates of the demo model's size, no training and no
 * proofs (see bench:prove for those). Reports round time and the coordinator's peak memory per N and storage
 * engine (SQLite in the data directory; PostgreSQL started here on loopback), and writes
 * benchmarks/results/scale.{json,md}.
 *
 * With `--proofs`: one round of N clients whose updates carry real one-chunk proofs of the test circuit (a
 * 10-parameter model on 4 features), made here before the round's clock starts; verified by the coordinator's pool
 * or, with `--workers 1,2`, by that many `zkfl worker` processes through Redis (started here). Writes
 * benchmarks/results/scale-proofs.{json,md}.
 *
 *   npm run bench:scale [-- --clients 10,100,1000 --rounds 3 --engines sqlite,postgres]
 *   ZKFL_PTAU=… npm run bench:scale -- --proofs --clients 1000 [--workers 0,1,2]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { OwnerSession } from '../client/owner.js';
import type { ChildProcess } from 'node:child_process';
import { buildCircuit } from '../circuits/build.js';
import { randomSalt } from '../circuits/salt.js';
import { circuitParams } from '../circuits/params.js';
import { Prover } from '../circuits/prover.js';
import { taskStatement } from '../circuits/statement.js';
import { bytesOf } from '../common/bytes.js';
import { signConsent } from '../protocol/terms.js';
import { parseArgs } from 'node:util';
import { Wallet } from 'ethers';
import { io, type Socket } from 'socket.io-client';
import { demoTask } from '../demo/demo.js';
import { fashionMnist } from '../demo/fashion-mnist.js';
import { type RoundEndPayload, type RoundStartPayload } from '../protocol/events.js';
import { CoordinatorApi } from '../protocol/api.js';
import type { TaskView } from '../protocol/rest.js';
import { signIn } from '../protocol/sign-in.js';
import { machine, peakRssMiB, rssMiB } from './lib/machine.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { startRedis } from '../test/helpers/redis.js';
import { startCoordinatorProcess, startWorkerProcess } from './lib/processes.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string' },
    rounds: { type: 'string' },
    engines: { type: 'string' },
    proofs: { type: 'boolean' },
    workers: { type: 'string' },
  },
});
const sizes = (values.clients ?? '10,100,1000').split(',').map(Number);
const engines = (values.engines ?? 'sqlite,postgres').split(',') as Engine[];
const rounds = Number(values.rounds ?? 3);
const data = fashionMnist(process.env.ZKFL_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist');

type Engine = 'sqlite' | 'postgres';
let databases = 0;

interface Row {
  engine: Engine;
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

/** A logged-in, joined client; `onStart` gets every round:start it is sent. */
async function connectClient(
  url: string,
  taskId: string,
  onStart: (socket: Socket, start: RoundStartPayload) => void,
): Promise<{ socket: Socket; address: string }> {
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  const api = new CoordinatorApi(url);
  const nonce = await api.nonce();
  const socket = io(url, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    auth: await signIn(wallet, url, nonce),
  });
  socket.on('round:start', (start: RoundStartPayload) => onStart(socket, start));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const { terms, termsHash } = await api.terms(taskId);
  const consent = await signConsent(wallet, terms.taskKey, termsHash);
  await socket.timeout(60_000).emitWithAck('join', { taskId, consent });
  return { socket, address: wallet.address };
}

/** N clients connected and joined, 50 at a time; resolves with them and the seconds it took. */
async function connectAll(
  clients: number,
  connect: () => Promise<{ socket: Socket; address: string }>,
): Promise<{ joined: Array<{ socket: Socket; address: string }>; connectSeconds: number }> {
  const started = Date.now();
  const joined: Array<{ socket: Socket; address: string }> = [];
  for (let i = 0; i < clients; i += 50) {
    joined.push(...(await Promise.all(Array.from({ length: Math.min(50, clients - i) }, connect))));
  }
  const connectSeconds = (Date.now() - started) / 1000;
  process.stderr.write(`  N=${clients}: ${clients} connected and joined in ${connectSeconds.toFixed(1)} s\n`);
  return { joined, connectSeconds };
}

/** A coordinator process for N simulated clients (they sign in from one address: above the per-IP defaults). */
async function coordinatorFor(
  dir: string,
  clients: number,
  engine: Engine,
  args: string[],
): Promise<{ child: ChildProcess; url: string }> {
  const limits = join(dir, 'limits.json');
  const perIp = {
    noncesPerMinute: 10 * clients,
    signInsPerMinute: 10 * clients,
    connectionsPerIp: 2 * clients,
    httpConnectionsPerIp: 2 * clients,
  };
  writeFileSync(limits, JSON.stringify({ rate: perIp }));
  return startCoordinatorProcess(join(dir, 'coordinator'), [
    '--limits',
    limits,
    ...(engine === 'postgres' ? ['--database', await postgres!.database(`scale_${databases++}`)] : []),
    ...args,
  ]);
}

/**
 * Each round's seconds, from the first round:start any client saw to the first round:end, and the coordinator's
 * memory: idle after round 1, and its peak during the later rounds (sampled every 50 ms).
 */
class RoundClock {
  readonly roundSeconds: number[] = [];
  idleRssMiB = Number.NaN;
  roundPeakRssMiB = 0;
  readonly done: Promise<void>;
  private readonly starts = new Map<number, number>();
  private sampler: NodeJS.Timeout | undefined;
  private resolveDone: () => void = () => undefined;

  constructor(
    private readonly engine: Engine,
    private readonly clients: number,
    private readonly pid: number,
  ) {
    this.done = new Promise<void>((resolve) => (this.resolveDone = resolve));
  }

  started(round: number): void {
    if (!this.starts.has(round)) this.starts.set(round, Date.now());
  }

  ended(round: number): void {
    if (this.roundSeconds.length >= round) return;
    this.roundSeconds.push((Date.now() - this.starts.get(round)!) / 1000);
    process.stderr.write(
      `  ${this.engine} N=${this.clients} round ${round}: ${this.roundSeconds.at(-1)!.toFixed(2)} s\n`,
    );
    if (round === 1) {
      this.idleRssMiB = rssMiB(this.pid);
      this.sampler = setInterval(() => (this.roundPeakRssMiB = Math.max(this.roundPeakRssMiB, rssMiB(this.pid))), 50);
    }
    if (round === rounds) {
      clearInterval(this.sampler);
      this.resolveDone();
    }
  }
}

async function measure(clients: number, engine: Engine): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'zkfl-scale-'));
  const { child, url } = await coordinatorFor(dir, clients, engine, ['--data-root', dirname(data.test)]);
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
    const clock = new RoundClock(engine, clients, child.pid!);
    // A fixed small quantized update: what matters here is its size and validity, not its value.
    const q = new Uint8Array(task.numParams).fill(1);
    const fractionBits = Array<number>(task.zk.chunks).fill(10);
    // Round 1 starts with the first join and waits for all N, so it includes the logins; later rounds do not.
    const { joined, connectSeconds } = await connectAll(clients, () =>
      connectClient(url, task.id, (socket, start) => {
        clock.started(start.round);
        socket.emit('update', { taskId: task.id, round: start.round, numSamples: 100, q, fractionBits }, () => {});
      }),
    );
    joined.forEach(({ socket }) => socket.on('round:end', (end: RoundEndPayload) => clock.ended(end.round)));
    await clock.done;
    const { roundSeconds, idleRssMiB, roundPeakRssMiB } = clock;
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
    for (const { socket } of joined) socket.disconnect();
    return row;
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each joined client's round-1 update of the same small values, proven for its own statement, made ahead. */
async function proveAhead(
  task: TaskView,
  joined: Array<{ socket: Socket; address: string }>,
  starts: Map<Socket, RoundStartPayload>,
): Promise<Array<{ socket: Socket; update: object }>> {
  const prover = new Prover(await buildCircuit(circuitParams.test, { ptau: process.env.ZKFL_PTAU }));
  const q = Int8Array.from({ length: task.numParams }, (_, i) => (i % 7) - 3);
  try {
    return await Promise.all(
      joined.map(async ({ socket, address }) => {
        const salt = randomSalt();
        const statement = taskStatement(task, 1, address, starts.get(socket)!.modelHash);
        const proofs = await prover.prove(statement, salt, q, [10]);
        const update = {
          taskId: task.id,
          round: 1,
          numSamples: 100,
          q: bytesOf(q),
          fractionBits: [10],
          salt: String(salt),
          proofs,
        };
        return { socket, update };
      }),
    );
  } finally {
    prover.close();
  }
}

interface ProvenRow {
  engine: Engine;
  clients: number;
  verifier: string;
  /** Making the N proofs ahead, in this process (not part of the round). */
  proveSeconds: number;
  /** From the moment all N updates are released to round:end: transport, checks, verification, aggregation. */
  roundSeconds: number;
  idleRssMiB: number;
  roundPeakRssMiB: number;
}

/**
 * One round of N clients with real one-chunk proofs of the test circuit: every client joins and is sent round 1,
 * its update is proven ahead, and then all N are sent at once.
 */
async function measureProven(clients: number, engine: Engine, workers: number): Promise<ProvenRow> {
  const dir = mkdtempSync(join(tmpdir(), 'zkfl-scale-'));
  // 4 features, 2 classes: a 10-parameter model, one chunk of the 30-value test circuit.
  const rows = Array.from({ length: 200 }, (_, i) => `${i % 3},${i % 5},${i % 2},1,${i % 2}`);
  writeFileSync(join(dir, 'eval.csv'), 'a,b,c,d,label\n' + rows.join('\n') + '\n');
  const { child, url } = await coordinatorFor(dir, clients, engine, [
    '--data-root',
    dir,
    '--circuit',
    'test',
    ...(workers > 0 ? ['--redis', redis!.url] : []),
  ]);
  const workerProcesses = await Promise.all(Array.from({ length: workers }, () => startWorkerProcess(redis!.url)));
  try {
    const task = await (
      await OwnerSession.open(url, Wallet.createRandom())
    ).createTask({
      name: 'bench:scale with proofs',
      model: { preset: 'mlp', hidden: [] },
      inputShape: [4],
      classes: 2,
      rounds: 1,
      clientsPerRound: { min: clients, target: clients },
      roundDeadlineSeconds: 3600,
      rewards: { scoringExamples: 100, scoringBudget: 200 },
      evaluation: { path: 'eval.csv' },
    });
    const starts = new Map<Socket, RoundStartPayload>();
    const { joined } = await connectAll(clients, () =>
      connectClient(url, task.id, (socket, start) => void starts.set(socket, start)),
    );
    while (starts.size < clients) await new Promise((resolve) => setTimeout(resolve, 100));

    const provingStarted = Date.now();
    const updates = await proveAhead(task, joined, starts);
    const proveSeconds = (Date.now() - provingStarted) / 1000;
    process.stderr.write(`  N=${clients}: ${clients} proofs made in ${proveSeconds.toFixed(1)} s\n`);

    const idleRssMiB = rssMiB(child.pid!);
    let roundPeakRssMiB = idleRssMiB;
    const sampler = setInterval(() => (roundPeakRssMiB = Math.max(roundPeakRssMiB, rssMiB(child.pid!))), 50);
    const ended = new Promise<RoundEndPayload>((resolve) => joined[0]!.socket.once('round:end', resolve));
    const released = Date.now();
    for (const { socket, update } of updates) socket.emit('update', update, () => {});
    const end = await ended;
    const roundSeconds = (Date.now() - released) / 1000;
    clearInterval(sampler);
    if (end.participants !== clients || end.proofsVerified !== clients) {
      throw new Error(`round 1 took ${end.participants} updates and ${end.proofsVerified} proofs of ${clients}`);
    }
    const verifier = workers > 0 ? `${workers} zkfl worker(s)` : 'in-process pool';
    process.stderr.write(`  ${engine} N=${clients} ${verifier}: round ${roundSeconds.toFixed(2)} s\n`);
    for (const { socket } of joined) socket.disconnect();
    return { engine, clients, verifier, proveSeconds, roundSeconds, idleRssMiB, roundPeakRssMiB };
  } finally {
    for (const worker of workerProcesses) worker.kill('SIGTERM');
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const postgres = engines.includes('postgres') ? await startPostgres() : undefined;
const workerCounts = (values.workers ?? '0').split(',').map(Number);
const redis = values.proofs && workerCounts.some((count) => count > 0) ? await startRedis() : undefined;
const rows: Row[] = [];
const provenRows: ProvenRow[] = [];
try {
  for (const engine of engines) {
    for (const clients of sizes) {
      if (!values.proofs) rows.push(await measure(clients, engine));
      else for (const workers of workerCounts) provenRows.push(await measureProven(clients, engine, workers));
    }
  }
} finally {
  await postgres?.stop();
  await redis?.stop();
}

if (values.proofs) {
  const table = [
    '| storage | clients | verifier | round time (s) | proofs verified per second in the round | coordinator RSS before the round (MiB) | peak RSS in the round (MiB) | making the proofs ahead (s) |',
    '|---|---:|---|---:|---:|---:|---:|---:|',
    ...provenRows.map(
      (row) =>
        `| ${row.engine} | ${row.clients} | ${row.verifier} | ${row.roundSeconds.toFixed(2)} | ${(row.clients / row.roundSeconds).toFixed(1)} | ${row.idleRssMiB.toFixed(0)} | ${row.roundPeakRssMiB.toFixed(0)} | ${row.proveSeconds.toFixed(1)} |`,
    ),
  ].join('\n');
  const header = `Machine: ${machine()}. One round of N simulated clients, each update with a real one-chunk proof of the test circuit (30 values, 2^11 constraints; a Groth16 check costs the same for every circuit), proven before the round and all sent at once. Round time runs from the release of the N updates to round:end: transport, every check, proof verification, scoring and aggregation. The in-process pool has one verifier process per core and starts them with the round's first proof (their start-up is in its round time); workers run on this same machine, started before.`;
  writeFileSync(
    new URL('./results/scale-proofs.json', import.meta.url),
    JSON.stringify({ machine: machine(), rows: provenRows }, null, 2) + '\n',
  );
  const limits = `What this machine cannot show: with ${availableParallelism()} cores, the coordinator, its verifier processes or workers, PostgreSQL and the ${Math.max(...provenRows.map((row) => row.clients))} simulated clients all share them, so a worker added here takes cores from the rest. On other hosts each worker adds its own verification rate (bench:workers: one process verifies about 70 proofs per second), and the coordinator's share of a round (transport, the statement and commitment checks, scoring, aggregation) is what remains; several coordinator instances split the tasks, not one task's round.`;
  writeFileSync(new URL('./results/scale-proofs.md', import.meta.url), `${header}\n\n${table}\n\n${limits}\n`);
  process.stdout.write(`${header}\n\n${table}\n\n${limits}\n`);
  process.exit(0);
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
