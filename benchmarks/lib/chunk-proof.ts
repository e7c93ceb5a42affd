/** One real chunk proof of the default circuit (D = 3150) and its verification key, for verification benchmarks. */
import { readFileSync } from 'node:fs';
import { buildCircuit, terminateCurve } from '../../circuits/build.js';
import { randomSalt } from '../../circuits/salt.js';
import { circuitParams } from '../../circuits/params.js';
import { proveUpdate } from '../../circuits/prover.js';
import type { ChunkProof } from '../../circuits/update-prover.js';

export async function defaultChunkProof(): Promise<{ chunk: ChunkProof; verificationKey: object }> {
  const artifacts = await buildCircuit(circuitParams.default, { ptau: process.env.ZKFL_PTAU });
  const q = Int8Array.from({ length: circuitParams.default.chunkSize }, (_, i) => (i % 11) - 5);
  const statement = {
    taskId: 't-bench',
    round: 1,
    address: '0x' + '11'.repeat(20),
    modelHash: 'ab'.repeat(32),
    clipSquareX96: (10n ** 6n) << 96n,
  };
  const [chunk] = await proveUpdate(statement, randomSalt(), q, [10], artifacts);
  await terminateCurve();
  return { chunk: chunk!, verificationKey: JSON.parse(readFileSync(artifacts.verificationKey, 'utf8')) as object };
}
