/**
 * `npm run bench:workers`: proofs verified per second by the coordinator's in-process verifier pool and by 1 and 2
 * `zkfl worker` processes through the Redis queue (`--redis`), on a real redis-server. Each run verifies 400
 * distinct default-circuit (D = 3150) chunk proofs — one real proof under 400 statements, all as costly to check —
 * after start-up. Writes benchmarks/results/workers.md.
 *
 *   ZKFL_PTAU=… npm run bench:workers
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { type ProofVerifier, VerifierPool } from '../circuits/verifier.js';
import { VerificationQueue } from '../coordinator/tasks/verification-queue.js';
import { startRedis } from '../test/helpers/redis.js';
import { defaultChunkProof } from './lib/chunk-proof.js';
import { machine } from './lib/machine.js';
import { startWorkerProcess } from './lib/processes.js';

const proofs = 400;
const { chunk, verificationKey } = await defaultChunkProof();
let run = 0;

/** Proofs per second over `proofs` distinct statements (new ones each run, so that the queue verifies them all). */
async function throughput(verifier: ProofVerifier): Promise<number> {
  run += 1;
  const signals = (k: number): string[] => [
    chunk.publicSignals[0]!,
    String(BigInt(chunk.publicSignals[1]!) + BigInt(run * 1_000_000 + k)),
  ];
  await verifier.verify(chunk.proof, chunk.publicSignals); // start-up is not throughput
  const started = performance.now();
  await Promise.all(Array.from({ length: proofs }, (_, k) => verifier.verify(chunk.proof, signals(k))));
  return proofs / ((performance.now() - started) / 1000);
}

const rows: Array<[string, number]> = [];
for (const processes of [1, 2]) {
  const pool = new VerifierPool(verificationKey, processes, 60_000);
  rows.push([`in-process pool, ${processes} verifier process(es)`, await throughput(pool)]);
  pool.close();
}
const redis = await startRedis();
const queue = new VerificationQueue(redis.url, 120_000);
const workers = [];
try {
  for (const count of [1, 2]) {
    while (workers.length < count) workers.push(await startWorkerProcess(redis.url));
    rows.push([`queue, ${count} zkfl worker(s)`, await throughput(queue.verifier(verificationKey))]);
  }
} finally {
  for (const worker of workers) worker.kill('SIGTERM');
  await queue.close();
  await redis.stop();
}

const md = [
  '# bench:workers',
  '',
  `Machine: ${machine()} (${availableParallelism()} cores: two workers and the coordinator share them).`,
  '`ZKFL_PTAU=… npm run bench:workers`. Each row verifies ' +
    `${proofs} distinct D = 3150 chunk proofs after start-up, redis-server on loopback.`,
  '',
  '| verifier | proofs / s |',
  '|---|---:|',
  ...rows.map(([name, perSecond]) => `| ${name} | ${perSecond.toFixed(1)} |`),
  '',
].join('\n');
writeFileSync(new URL('./results/workers.md', import.meta.url), md);
process.stdout.write(md);
process.exit(0);
