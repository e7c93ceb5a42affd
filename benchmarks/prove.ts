/**
 * `npm run bench:prove`: for D ∈ {256, 1024, 3150 (the demo's)} — constraints per parameter, witness time,
 * proving time, peak memory and verification time on this machine; then the ZK overhead of a demo round (round
 * time with proofs ÷ without, both runs in this process, same seed). Writes benchmarks/results/prove.{json,md}.
 *
 *   ZKFL_PTAU=… npm run bench:prove [-- --rounds 3 --clients 4]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as snarkjs from 'snarkjs';
import { buildCircuit, type CircuitArtifacts, terminateCurve } from '../circuits/build.js';
import { randomSalt } from '../circuits/commitment.js';
import { type CircuitName, circuitParams } from '../circuits/params.js';
import { chunkInputs } from '../circuits/statement.js';
import { runDemo } from '../demo/demo.js';
import { defaultFashionMnistDir } from '../demo/fashion-mnist.js';
import { machine } from './lib/machine.js';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, clients: { type: 'string' } } });
const rounds = Number(values.rounds ?? 3);
const clients = Number(values.clients ?? 4);
const repeats = 3;

interface CircuitRow {
  chunkSize: number;
  constraints: number;
  perParameter: number;
  witnessMs: number;
  proveMs: number;
  constraintsPerSecond: number;
  verifyMs: number;
  peakRssMiB: number;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function measure(artifacts: CircuitArtifacts): Promise<CircuitRow> {
  const { params } = artifacts;
  const q = Int32Array.from({ length: params.chunkSize }, (_, i) => ((i * 131) % 2001) - 1000);
  const normBound = q.reduce((sum, value) => sum + BigInt(value) ** 2n, 0n);
  const statement = {
    taskId: 't-bench',
    round: 1,
    address: '0x90f525ee8247191F542689C62bFb16f87c526D0B',
    modelHash: 'ab'.repeat(32),
    normBound,
  };
  const [input] = chunkInputs(statement, randomSalt(), q, params);
  const verificationKey = JSON.parse(readFileSync(artifacts.verificationKey, 'utf8')) as object;
  const witness: number[] = [];
  const prove: number[] = [];
  let last: { proof: snarkjs.Groth16Proof; publicSignals: string[] } | undefined;
  for (let i = 0; i < repeats; i++) {
    const wtns = { type: 'mem' as const };
    let started = performance.now();
    await snarkjs.wtns.calculate(input!, artifacts.wasm, wtns);
    witness.push(performance.now() - started);
    started = performance.now();
    last = await snarkjs.groth16.prove(artifacts.zkey, wtns);
    prove.push(performance.now() - started);
  }
  const verify: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    if (!(await snarkjs.groth16.verify(verificationKey, last!.publicSignals, last!.proof)))
      throw new Error('proof does not verify');
    verify.push(performance.now() - started);
  }
  const constraints = artifacts.manifest.constraints;
  return {
    chunkSize: params.chunkSize,
    constraints,
    perParameter: constraints / params.chunkSize,
    witnessMs: mean(witness),
    proveMs: mean(prove),
    constraintsPerSecond: constraints / (mean(prove) / 1000),
    // The first verification builds the curve's tables: report the steady state.
    verifyMs: mean(verify.slice(1)),
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

const rows: CircuitRow[] = [];
for (const name of ['bench256', 'bench1024', 'default'] as CircuitName[]) {
  const artifacts = await buildCircuit(circuitParams[name], { ptau: process.env.ZKFL_PTAU });
  rows.push(await measure(artifacts));
  process.stderr.write(`D = ${rows.at(-1)!.chunkSize}: ${JSON.stringify(rows.at(-1))}\n`);
}
await terminateCurve();

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
const withProofs = await demoRoundSeconds(true);
const withoutProofs = await demoRoundSeconds(false);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const overhead = median(withProofs) / median(withoutProofs);

const demo = rows.at(-1)!;
const table = [
  '| D | constraints | per parameter | witness (ms) | prove (ms) | constraints proven / s | verify (ms) | peak RSS so far (MiB) |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (row) =>
      `| ${row.chunkSize} | ${row.constraints} | ${row.perParameter.toFixed(2)} | ${row.witnessMs.toFixed(0)} | ${row.proveMs.toFixed(0)} | ${row.constraintsPerSecond.toFixed(0)} | ${row.verifyMs.toFixed(1)} | ${row.peakRssMiB.toFixed(0)} |`,
  ),
].join('\n');
const markdown = `# bench:prove

Machine: ${machine()}. snarkjs Groth16 on BN254, proving with snarkjs's own thread pool (2 threads), verifying on one
thread; means of ${repeats} proofs and 19 verifications. Peak RSS is the benchmark process's high-water mark, so it
grows monotonically down the table.

${table}

Targets: ≤ 20 constraints per 16-bit parameter (D = ${demo.chunkSize}: ${demo.perParameter.toFixed(2)}); ≥ 15,000 constraints proven per
second (${demo.constraintsPerSecond.toFixed(0)}); the demo model's whole proof set (2,724 parameters → 1 chunk) per client per round
under 15 s (witness + proof: ${((demo.witnessMs + demo.proveMs) / 1000).toFixed(1)} s); verification under 50 ms per proof (${demo.verifyMs.toFixed(1)} ms).

ZK overhead of a demo round (${clients} clients, ${rounds} rounds, same seed; round time from open to evaluated):
with proofs ${withProofs.map((s) => s.toFixed(1)).join(', ')} s; without ${withoutProofs.map((s) => s.toFixed(1)).join(', ')} s;
median ratio **${overhead.toFixed(2)}×**.
`;
writeFileSync(
  new URL('./results/prove.json', import.meta.url),
  JSON.stringify(
    { machine: machine(), rows, demo: { clients, rounds, withProofs, withoutProofs, overhead } },
    null,
    2,
  ) + '\n',
);
writeFileSync(new URL('./results/prove.md', import.meta.url), markdown);
process.stdout.write(markdown);
process.exit(0);
