/**
 * One update's statement: what a client proves about it and what a verifier expects to see proven. The client, the
 * coordinator, the auditor and the contract (ZkflRewards.statementOf) all build the circuit's public `statement`
 * signal this way, so they cannot drift apart: the top 200 bits of
 *   keccak256(abi.encode(taskKey, round, H_r, address, chunkIndex, fractionBits))
 * above the chunk's 48-bit norm bound, normBoundFor(clipSquareX96, fractionBits).
 */
import { sha256Hex } from '../common/bytes.js';
import { AbiCoder, keccak256 } from 'ethers';
import { NORM_BOUND_BITS, normBoundFor } from './codec.js';
import type { CircuitParams } from './params.js';

export interface UpdateStatement {
  taskId: string;
  round: number;
  /** The client's Ethereum address. */
  address: string;
  /** sha256 (hex) of the global weights the update was computed against. */
  modelHash: string;
  /** The task's chunk clip, ⌊τ_k²·2^96⌋ (circuits/codec.ts): each chunk's norm bound follows from it and its scale. */
  clipSquareX96: bigint;
}

/** How a task is named on-chain: sha256 of its id, as 0x-hex bytes32. */
export function taskKey(taskId: string): string {
  return '0x' + sha256Hex(taskId);
}

/** The public `statement` signal of chunk `chunkIndex` quantized at scale 2^fractionBits. */
export function statementSignal(statement: UpdateStatement, chunkIndex: number, fractionBits: number): bigint {
  const normBound = normBoundFor(statement.clipSquareX96, fractionBits);
  const tag = keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ['bytes32', 'uint256', 'bytes32', 'address', 'uint256', 'uint256'],
      [
        taskKey(statement.taskId),
        statement.round,
        '0x' + statement.modelHash,
        statement.address,
        chunkIndex,
        fractionBits,
      ],
    ),
  );
  return ((BigInt(tag) >> 56n) << NORM_BOUND_BITS) | normBound;
}

/** The circuit inputs of every chunk of `q` (zero-padded to whole chunks), each at its scale. */
export function chunkInputs(
  statement: UpdateStatement,
  salt: bigint,
  q: ArrayLike<number>,
  fractionBits: readonly number[],
  params: CircuitParams,
): Array<Record<string, string | string[]>> {
  const chunks = Math.ceil(q.length / params.chunkSize);
  if (fractionBits.length !== chunks) throw new RangeError(`${fractionBits.length} scales for ${chunks} chunks`);
  const half = 2 ** (params.valueBits - 1);
  return Array.from({ length: chunks }, (_, k) => ({
    statement: String(statementSignal(statement, k, fractionBits[k]!)),
    // The circuit takes q + 2^(B−1): small non-negative numbers (an out-of-range q fails its range check).
    shifted: Array.from({ length: params.chunkSize }, (_, i) => String((q[k * params.chunkSize + i] ?? 0) + half)),
    salt: String(salt),
  }));
}
