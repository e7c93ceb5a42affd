/**
 * `npm run bench:prove`: for each benchmarked circuit — constraints per parameter; one chunk proven alone (witness,
 * proof, on all threads); chunks proven back to back by one prover process per core, as a client proves a
 * multi-chunk update (ms per parameter, witness + proof); verification. Then the NIID-Bench CNN's whole update
 * (44,426 parameters) as one client proves it, and the ZK overhead of a demo round (round time with proofs ÷
 * without, both runs in this process, same seed). Writes benchmarks/results/prove.{json,md}.
 *
 *   ZKFL_PTAU=… npm run bench:prove [-- --rounds 3 --clients 4 --skip-demo]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import * as snarkjs from 'snarkjs';
import { buildCircuit, type CircuitArtifacts, terminateCurve } from '../circuits/build.js';
import { randomSalt } from '../circuits/salt.js';
import { type CircuitName, circuitParams } from '../circuits/params.js';
import { Prover } from '../circuits/prover.js';
import type { ChunkProof } from '../circuits/update-prover.js';
import { runDemo } from '../demo/demo.js';
import { defaultFashionMnistDir } from '../demo/fashion-mnist.js';
import { machine } from './lib/machine.js';
import { quantizedUpdate } from './lib/quantized-update.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string' }, clients: { type: 'string' }, 'skip-demo': { type: 'boolean' } },
});
const rounds = Number(values.rounds ?? 3);
const clients = Number(values.clients ?? 4);
const cores = availableParallelism();
const repeats = 3;
const NIID_CNN_PARAMS = 44_426;

interface CircuitRow {
  circuit: string;
  chunkSize: number;
  valueBits: number;
  constraints: number;
  perParameter: number;
  /** One chunk proven alone, on all threads. */
  single: { witnessMs: number; proveMs: number };
  /** Chunks proven back to back by one single-threaded prover process per core: wall ms per parameter. */
  throughputMsPerParameter: number;
  verifyMs: number;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function measure(artifacts: CircuitArtifacts): Promise<CircuitRow> {
  const { params } = artifacts;
  const one = quantizedUpdate(artifacts.params, params.chunkSize);
  const single = new Prover(artifacts, { processes: 1 });
  const timings: Array<{ witnessMs: number; proveMs: number }> = [];
  let proof: ChunkProof | undefined;
  try {
    for (let i = 0; i < repeats + 1; i++) {
      [proof] = await single.prove(one.statement, randomSalt(), one.q, one.fractionBits, (_d, _t, timing) =>
        timings.push(timing),
      );
    }
  } finally {
    single.close();
  }
  // The first proof pays for loading the key: report the steady state, as a client sees it from round 2 on.
  const steady = timings.slice(1);

  const chunks = 2 * cores * 2;
  const many = quantizedUpdate(artifacts.params, params.chunkSize * chunks);
  const parallel = new Prover(artifacts, { processes: cores });
  let wallMs: number;
  try {
    // Warm-up: every process loads the key and builds its single-threaded curve.
    const warm = { q: many.q.subarray(0, params.chunkSize * cores), fractionBits: many.fractionBits.slice(0, cores) };
    await parallel.prove(many.statement, randomSalt(), warm.q, warm.fractionBits);
    const started = performance.now();
    await parallel.prove(many.statement, randomSalt(), many.q, many.fractionBits);
    wallMs = performance.now() - started;
  } finally {
    parallel.close();
  }

  const verificationKey = JSON.parse(readFileSync(artifacts.verificationKey, 'utf8')) as object;
  const verify: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    if (!(await snarkjs.groth16.verify(verificationKey, proof!.publicSignals, proof!.proof)))
      throw new Error('proof does not verify');
    verify.push(performance.now() - started);
  }
  return {
    circuit: params.name,
    chunkSize: params.chunkSize,
    valueBits: params.valueBits,
    constraints: artifacts.manifest.constraints,
    perParameter: artifacts.manifest.constraints / params.chunkSize,
    single: { witnessMs: mean(steady.map((t) => t.witnessMs)), proveMs: mean(steady.map((t) => t.proveMs)) },
    throughputMsPerParameter: wallMs / (chunks * params.chunkSize),
    // The first verification builds the curve's tables: report the steady state.
    verifyMs: mean(verify.slice(1)),
  };
}

const rows: CircuitRow[] = [];
for (const name of ['bench630', 'bench2520', 'default', 'default8', 'default16'] as CircuitName[]) {
  const artifacts = await buildCircuit(circuitParams[name], { ptau: process.env.ZKFL_PTAU });
  rows.push(await measure(artifacts));
  process.stderr.write(`${name}: ${JSON.stringify(rows.at(-1))}\n`);
}
await terminateCurve();

/** The NIID-Bench CNN's update proven as the client proves it: one prover per core, the key already loaded. */
async function niidCnnSeconds(): Promise<{ chunks: number; seconds: number[] }> {
  const artifacts = await buildCircuit(circuitParams.default, { ptau: process.env.ZKFL_PTAU });
  const { q, fractionBits, statement } = quantizedUpdate(artifacts.params, NIID_CNN_PARAMS);
  const prover = new Prover(artifacts, { processes: Math.min(fractionBits.length, cores) });
  const seconds: number[] = [];
  try {
    // Round 1 loads the key in every process; rounds 2 and 3 are what a client pays per round afterwards.
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      await prover.prove(statement, randomSalt(), q, fractionBits);
      seconds.push((performance.now() - started) / 1000);
    }
  } finally {
    prover.close();
  }
  return { chunks: fractionBits.length, seconds };
}
const niid = await niidCnnSeconds();
process.stderr.write(`NIID-Bench CNN: ${JSON.stringify(niid)}\n`);

async function demoRoundSeconds(proofs: boolean): Promise<number[]> {
  const result = await runDemo({
    clients,
    rounds,
    alpha: 0.5,
    seed: 1,
    dataDir: process.env.ZKFL_FASHION_MNIST ?? defaultFashionMnistDir,
    ptau: process.env.ZKFL_PTAU,
    proofs,
    // Only what proving and verifying cost: no chain in either run.
    onchain: false,
  });
  return result.roundSeconds;
}
const demo = values['skip-demo']
  ? undefined
  : await (async () => {
      const withProofs = await demoRoundSeconds(true);
      const withoutProofs = await demoRoundSeconds(false);
      const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      return { clients, rounds, withProofs, withoutProofs, overhead: median(withProofs) / median(withoutProofs) };
    })();

const byName = (name: string): CircuitRow => rows.find((row) => row.circuit === name)!;
const main = byName(circuitParams.default.name);
const byte = byName(circuitParams.default8.name);
const wide = byName(circuitParams.default16.name);
const niidSteady = mean(niid.seconds.slice(1));
const table = [
  '| circuit | B | D | constraints | per parameter | one chunk: witness (ms) | one chunk: prove (ms) | ms / parameter, one chunk | ms / parameter, one prover per core | verify (ms) |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (row) =>
      `| ${row.circuit} | ${row.valueBits} | ${row.chunkSize} | ${row.constraints} | ${row.perParameter.toFixed(2)} | ${row.single.witnessMs.toFixed(0)} | ${row.single.proveMs.toFixed(0)} | ${((row.single.witnessMs + row.single.proveMs) / row.chunkSize).toFixed(3)} | ${row.throughputMsPerParameter.toFixed(3)} | ${row.verifyMs.toFixed(1)} |`,
  ),
].join('\n');
const markdown = `# bench:prove

Machine: ${machine()}. snarkjs Groth16 on BN254 through zkfl's Prover (circuits/prover.ts: prover processes that
load the witness generator and proving key once). "One chunk": one process proving one chunk on all ${cores} threads,
mean of ${repeats} after a first proof that loads the key. "One prover per core": ${cores} single-threaded processes
proving ${4 * cores} chunks back to back, as a client proves a multi-chunk update (wall time ÷ parameters, witness
included). Verification on one thread, mean of 19.

${table}

Default circuit (B = ${main.valueBits}, D = ${main.chunkSize}): **${main.perParameter.toFixed(2)} constraints per parameter** (target ≤ 12;
8-bit: ${byte.perParameter.toFixed(2)}; the 16-bit circuit it replaces: ${wide.perParameter.toFixed(2)}), **${main.throughputMsPerParameter.toFixed(3)} ms per parameter**
with one prover per core (target ≤ 0.5; ${((main.single.witnessMs + main.single.proveMs) / main.chunkSize).toFixed(3)} for a lone chunk on all threads; 8-bit:
${byte.throughputMsPerParameter.toFixed(3)}; 16-bit: ${wide.throughputMsPerParameter.toFixed(3)}), verification ${main.verifyMs.toFixed(1)} ms.

NIID-Bench CNN (${NIID_CNN_PARAMS.toLocaleString('en')} parameters, ${niid.chunks} chunks), one client's whole update per round:
${niid.seconds.map((s) => s.toFixed(1)).join(', ')} s (the first includes loading the key in each process); **${niidSteady.toFixed(1)} s per round** after
that (target ≤ 22 s).
${
  demo
    ? `
ZK overhead of a demo round (${demo.clients} clients, ${demo.rounds} rounds, same seed; round time from open to evaluated):
with proofs ${demo.withProofs.map((s) => s.toFixed(1)).join(', ')} s; without ${demo.withoutProofs.map((s) => s.toFixed(1)).join(', ')} s;
median ratio **${demo.overhead.toFixed(2)}×** (target ≤ 2×).
`
    : ''
}`;
writeFileSync(
  new URL('./results/prove.json', import.meta.url),
  JSON.stringify(
    {
      machine: machine(),
      default: {
        circuit: main.circuit,
        constraintsPerParameter: main.perParameter,
        proveMsPerParameter: main.throughputMsPerParameter,
        verifyMs: main.verifyMs,
      },
      rows,
      niidCnn: { parameters: NIID_CNN_PARAMS, ...niid, secondsPerRound: niidSteady },
      ...(demo ? { demo } : {}),
    },
    null,
    2,
  ) + '\n',
);
writeFileSync(new URL('./results/prove.md', import.meta.url), markdown);
process.stdout.write(markdown);
process.exit(0);
