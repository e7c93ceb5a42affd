/**
 * One update's statement: what a client proves about it and what a verifier expects to see proven. The client, the
 * coordinator, the auditor and the contract (ZkflRewards.statementOf) all build the circuit's public `statement`
 * signal this way, so they cannot drift apart: the top 200 bits of
 *   keccak256(abi.encode(verificationKey, taskKey, round, H_r, address, chunkIndex, fractionBits))
 * above the chunk's 48-bit norm bound, normBoundFor(clipSquareX96, fractionBits). The verification key (its sha256)
 * names the circuit: one commitment can open to value lists of two circuits (6-bit and 8-bit values, say), and a
 * proof made with one names that one, so it cannot stand for an update of a task that chose the other. Tasks
 * created before statements named their circuit leave it out.
 */
import { sha256Hex } from '../common/bytes.js';
import { AbiCoder, keccak256 } from 'ethers';
import { NORM_BOUND_BITS, normBoundFor } from './codec.js';
import type { CircuitParams } from './params.js';
import type { ZkView } from '../protocol/rest.js';

export interface UpdateStatement {
  taskId: string;
  round: number;
  /** The client's Ethereum address. */
  address: string;
  /** sha256 (hex) of the global weights the update was computed against. */
  modelHash: string;
  /** The task's chunk clip, ⌊τ_k²·2^96⌋ (circuits/codec.ts): each chunk's norm bound follows from it and its scale. */
  clipSquareX96: bigint;
  /** sha256 (hex) of the task's verification key; absent for tasks from before statements named their circuit. */
  verificationKey?: string;
}

/** The statement of `address`'s update to round `round` of `task`, trained from the model `modelHash`. */
export function taskStatement(
  task: { id: string; zk: Pick<ZkView, 'clipSquareX96' | 'verificationKeySha256' | 'statementNamesKey'> },
  round: number,
  address: string,
  modelHash: string,
): UpdateStatement {
  const { zk } = task;
  return {
    taskId: task.id,
    round,
    address,
    modelHash,
    clipSquareX96: BigInt(zk.clipSquareX96),
    ...(zk.statementNamesKey && zk.verificationKeySha256 ? { verificationKey: zk.verificationKeySha256 } : {}),
  };
}

/** How a task is named on-chain: sha256 of its id, as 0x-hex bytes32. */
export function taskKey(taskId: string): string {
  return '0x' + sha256Hex(taskId);
}

/** The public `statement` signal of chunk `chunkIndex` quantized at scale 2^fractionBits. */
export function statementSignal(statement: UpdateStatement, chunkIndex: number, fractionBits: number): bigint {
  const normBound = normBoundFor(statement.clipSquareX96, fractionBits);
  const types = ['bytes32', 'uint256', 'bytes32', 'address', 'uint256', 'uint256'];
  const values = [
    taskKey(statement.taskId),
    statement.round,
    '0x' + statement.modelHash,
    statement.address,
    chunkIndex,
    fractionBits,
  ];
  const tag = keccak256(
    statement.verificationKey === undefined
      ? AbiCoder.defaultAbiCoder().encode(types, values)
      : AbiCoder.defaultAbiCoder().encode(['bytes32', ...types], ['0x' + statement.verificationKey, ...values]),
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
