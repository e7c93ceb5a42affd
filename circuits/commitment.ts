/**
 * The commitment to one chunk of an update, computed exactly as circuits/update-chunk.circom does:
 *   h = Poseidon(salt, statement); h = Poseidon(h, 15 packed elements)…
 * with circomlibjs's Poseidon, the same permutation as circomlib's.
 */
import { buildPoseidon } from 'circomlibjs';
import { pack } from './codec.js';
import type { CircuitParams } from './params.js';
import { statementSignal, type UpdateStatement } from './statement.js';
import type { BindingProblem, ProvenChunks } from './update-binding.js';

type Poseidon = Awaited<ReturnType<typeof buildPoseidon>>;
let poseidon: Promise<Poseidon> | undefined;

/** What a chunk's commitment binds, besides its values: its salt and its statement (circuits/statement.ts). */
export interface ChunkBinding {
  salt: bigint;
  statement: bigint;
}

export async function commitChunk(binding: ChunkBinding, q: ArrayLike<number>, params: CircuitParams): Promise<bigint> {
  poseidon ??= buildPoseidon();
  const hash = await poseidon;
  const digest = (inputs: bigint[]): bigint => hash.F.toObject(hash(inputs));
  const packed = pack(q, params);
  let h = digest([binding.salt, binding.statement]);
  for (let start = 0; start < packed.length; start += 15) {
    const block = Array.from({ length: 15 }, (_, j) => packed[start + j] ?? 0n);
    h = digest([h, ...block]);
  }
  return h;
}

/** Each chunk's commitment, recomputed from the values and salt, against the one its proof carries. */
export async function commitmentProblem(
  update: ProvenChunks & { q: ArrayLike<number>; salt: bigint },
  statement: UpdateStatement,
  params: CircuitParams,
): Promise<BindingProblem | undefined> {
  for (let k = 0; k < update.proofs.length; k++) {
    const values = new Int32Array(params.chunkSize);
    for (let i = 0; i < params.chunkSize; i++) values[i] = update.q[k * params.chunkSize + i] ?? 0;
    const commitment = await commitChunk(
      { salt: update.salt, statement: statementSignal(statement, k, update.fractionBits[k]!) },
      values,
      params,
    );
    if (String(commitment) !== update.proofs[k]!.publicSignals[0]) {
      return { code: 'COMMITMENT_MISMATCH', message: `chunk ${k}: the proof commits to other values than the update` };
    }
  }
  return undefined;
}
