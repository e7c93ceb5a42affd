import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as snarkjs from 'snarkjs';
import { type CircuitArtifacts, terminateCurve } from '../../circuits/build.js';
import { FIELD_PRIME, normBoundFor } from '../../circuits/codec.js';
import { commitChunk } from '../../circuits/commitment.js';
import { randomSalt } from '../../circuits/salt.js';
import { proveUpdate } from '../../circuits/prover.js';
import type { ChunkProof } from '../../circuits/update-prover.js';
import { chunkInputs, statementSignal, type UpdateStatement } from '../../circuits/statement.js';
import { snarkjsLogger } from '../../circuits/snarkjs-logger.js';
import { circuit } from '../helpers/circuits.js';

/** At scale 2^0 a chunk's norm bound is ⌊clipSquareX96 / 2^96⌋: tests set it to exactly the bound they want. */
const F = 0;
const clipFor = (normBound: bigint): bigint => normBound << 96n;
const withBound = (normBound: bigint): UpdateStatement => ({ ...statement, clipSquareX96: clipFor(normBound) });

const statement: UpdateStatement = {
  taskId: 't-0123456789ab',
  round: 3,
  address: '0x90f525ee8247191F542689C62bFb16f87c526D0B',
  modelHash: 'a'.repeat(64),
  clipSquareX96: clipFor(10_000_000n),
  verificationKey: 'd'.repeat(64),
};

/** 30 values spread over the 6-bit range; Σq² and so the bound are set per test. */
function values(...overrides: Array<[number, number]>): Int32Array {
  const q = Int32Array.from({ length: 30 }, (_, i) => ((i * 37) % 60) - 30);
  for (const [index, value] of overrides) q[index] = value;
  return q;
}
const normSq = (q: Int32Array): bigint => q.reduce((sum, value) => sum + BigInt(value) ** 2n, 0n);

describe('UpdateChunk circuit', function () {
  let artifacts: CircuitArtifacts;
  let verificationKey: object;
  let honest: { salt: bigint; q: Int32Array; proof: ChunkProof };

  before(async () => {
    artifacts = await circuit('test');
    verificationKey = JSON.parse(readFileSync(artifacts.verificationKey, 'utf8')) as object;
    const q = values([0, -32], [1, 31]);
    const salt = randomSalt();
    const [proof] = await proveUpdate(withBound(normSq(q) + 5n), salt, q, [F], artifacts);
    honest = { salt, q, proof: proof! };
  });
  after(() => terminateCurve());

  const verify = (publicSignals: string[], proof = honest.proof.proof): Promise<boolean> =>
    snarkjs.groth16.verify(verificationKey, publicSignals, proof);
  const honestStatement = (): UpdateStatement => withBound(normSq(honest.q) + 5n);

  it('proves and verifies an honest update at the edges of the value range', async () => {
    expect(honest.proof.publicSignals[1]).to.equal(String(statementSignal(honestStatement(), 0, F)));
    expect(await verify(honest.proof.publicSignals)).to.equal(true);
  });

  it('commits exactly as the TypeScript twin does', async () => {
    const twin = await commitChunk(
      { salt: honest.salt, statement: statementSignal(honestStatement(), 0, F) },
      honest.q,
      artifacts.params,
    );
    expect(honest.proof.publicSignals[0]).to.equal(String(twin));
    const require = createRequire(import.meta.url);
    const witnessCalculator = require(join(artifacts.dir, `${artifacts.params.name}_js`, 'witness_calculator.js')) as (
      wasm: Buffer,
    ) => Promise<{ calculateWitness(input: object, sanityCheck: boolean): Promise<bigint[]> }>;
    const calculator = await witnessCalculator(readFileSync(artifacts.wasm));
    for (let trial = 0; trial < 3; trial++) {
      const q = Int32Array.from({ length: 30 }, () => Math.floor(Math.random() * 64) - 32);
      const salt = randomSalt();
      const other = { ...withBound(normSq(q)), round: 7 + trial };
      const [input] = chunkInputs(other, salt, q, [F], artifacts.params);
      const witness = await calculator.calculateWitness(input!, true);
      const expected = await commitChunk({ salt, statement: statementSignal(other, 0, F) }, q, artifacts.params);
      expect(witness[1]).to.equal(expected);
    }
  });

  it('cannot prove a value out of range, on either side', async () => {
    for (const value of [32, -33]) {
      const q = values([4, value]);
      const error = await proveUpdate(withBound(normSq(q)), randomSalt(), q, [F], artifacts).catch((e: Error) => e);
      expect(error, `q = ${value}`)
        .to.be.instanceOf(Error)
        .with.property('message')
        .that.matches(/Assert Failed/);
    }
  });

  it('cannot prove a norm one unit over the bound, and can at the bound', async () => {
    const q = values([2, 29]);
    const over = await proveUpdate(withBound(normSq(q) - 1n), randomSalt(), q, [F], artifacts).catch((e: Error) => e);
    expect(over)
      .to.be.instanceOf(Error)
      .with.property('message')
      .that.matches(/Assert Failed/);
    const [atBound] = await proveUpdate(withBound(normSq(q)), randomSalt(), q, [F], artifacts);
    expect(await verify(atBound!.publicSignals, atBound!.proof)).to.equal(true);
  });

  it('takes the bound from the low 48 bits of the statement only', async () => {
    const q = values();
    // A bound past 48 bits is capped (no update of this circuit comes near it) and never spills into the tag.
    expect(normBoundFor(clipFor(1n << 48n), F)).to.equal((1n << 48n) - 1n);
    expect(statementSignal(withBound(1n << 50n), 0, F) & ((1n << 48n) - 1n)).to.equal((1n << 48n) - 1n);
    // A statement whose tag bits are zero cannot lend its norm bound a 49th bit either: the circuit reads 48 bits.
    const [input] = chunkInputs(withBound(normSq(q)), randomSalt(), q, [F], artifacts.params);
    const overBits = { ...input!, statement: String((1n << 48n) | (normSq(q) - 1n)) };
    const failure = await snarkjs.groth16.fullProve(overBits, artifacts.wasm, artifacts.zkey).catch((e: Error) => e);
    expect(failure)
      .to.be.instanceOf(Error)
      .with.property('message')
      .that.matches(/Assert Failed/);
  });

  it('binds the proof to its commitment, circuit, task, round, address, model hash, chunk and bound', async () => {
    const signals = honest.proof.publicSignals;
    const otherCommitment = await commitChunk(
      { salt: honest.salt, statement: statementSignal(honestStatement(), 0, F) },
      values([0, 5]),
      artifacts.params,
    );
    const bound = (other: UpdateStatement, chunkIndex = 0, fractionBits = F): string[] => [
      signals[0]!,
      String(statementSignal(other, chunkIndex, fractionBits)),
    ];
    const tampered: Record<string, string[]> = {
      'a commitment of other values': [String(otherCommitment), signals[1]!],
      'another circuit (a statement naming another verification key)': bound({
        ...honestStatement(),
        verificationKey: 'e'.repeat(64),
      }),
      'a statement naming no circuit (as before statements named one)': bound({
        ...honestStatement(),
        verificationKey: undefined,
      }),
      'another task': bound({ ...honestStatement(), taskId: 't-ffffffffffff' }),
      'another round': bound({ ...honestStatement(), round: 4 }),
      'another address (a replay by another client)': bound({
        ...honestStatement(),
        address: '0x0dE72FEAE3A9EB1447F96693faAa7a93f1903e1c',
      }),
      'another model hash': bound({ ...honestStatement(), modelHash: 'b'.repeat(64) }),
      'another chunk index': bound(honestStatement(), 1),
      'another scale (the update would count 2x what was proven)': bound(honestStatement(), 0, F + 1),
      'a larger bound': bound(withBound(normSq(honest.q) + 6n)),
      'a signal moved by the field order': signals.map((value, i) =>
        i === 1 ? String(BigInt(value) + FIELD_PRIME) : value,
      ),
    };
    expect(new Set(Object.values(tampered).map(String)).size, 'all variants differ').to.equal(11);
    for (const [what, publicSignals] of Object.entries(tampered)) {
      expect(await verify(publicSignals), what).to.equal(false);
    }
  });

  it('rejects a proof whose bytes were changed', async () => {
    const proof = structuredClone(honest.proof.proof);
    proof.pi_a[0] = String(BigInt(proof.pi_a[0]!) + 1n);
    expect(await verify(honest.proof.publicSignals, proof)).to.equal(false);
  });

  it('cannot prove from a witness that breaks the constraints, even one built by hand', async () => {
    const [input] = chunkInputs(honestStatement(), honest.salt, honest.q, [F], artifacts.params);
    const wtns = { type: 'mem' as const };
    await snarkjs.wtns.calculate(input!, artifacts.wasm, wtns);
    const bytes = (wtns as { data?: Uint8Array }).data!;
    const r1cs = join(artifacts.dir, `${artifacts.params.name}.r1cs`);
    const logger = snarkjsLogger('test');
    expect(await snarkjs.wtns.check(r1cs, { type: 'mem', data: bytes }, logger)).to.equal(true);
    // wtns: "wtns", version, sections; section 1 = n8, prime, witness count (at byte 60); section 2, last, holds
    // the values, 32 bytes each: 1, commitment, statement, then shifted[0] = q[0] + 32. Raise it by one, nothing else.
    const witnessCount = new DataView(bytes.buffer, bytes.byteOffset).getUint32(60, true);
    const tampered = Uint8Array.from(bytes);
    const q0 = tampered.length - (witnessCount - 3) * 32;
    expect(tampered[q0]).to.equal(honest.q[0]! + 32);
    tampered[q0] = (tampered[q0]! + 1) & 0xff;
    expect(await snarkjs.wtns.check(r1cs, { type: 'mem', data: tampered }, logger)).to.equal(false);
    const { proof, publicSignals } = await snarkjs.groth16.prove(artifacts.zkey, { type: 'mem', data: tampered });
    expect(await verify(publicSignals, proof)).to.equal(false);
  });
});

describe('UpdateChunk circuit with 16-bit values', function () {
  after(() => terminateCurve());

  it('proves the edges of the 16-bit range and refuses one past them', async () => {
    const artifacts = await circuit('test16');
    const verificationKey = JSON.parse(readFileSync(artifacts.verificationKey, 'utf8')) as object;
    const q = values([0, -32768], [1, 32767]);
    const [proof] = await proveUpdate(withBound(normSq(q)), randomSalt(), q, [F], artifacts);
    expect(await snarkjs.groth16.verify(verificationKey, proof!.publicSignals, proof!.proof)).to.equal(true);
    const over = values([0, 32768]);
    const error = await proveUpdate(withBound(normSq(over)), randomSalt(), over, [F], artifacts).catch((e: Error) => e);
    expect(error)
      .to.be.instanceOf(Error)
      .with.property('message')
      .that.matches(/Assert Failed/);
  });
});
