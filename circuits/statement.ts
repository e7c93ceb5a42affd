/**
 * One update's statement: what a client proves about it and what a verifier expects to see proven. The client, the
 * coordinator and the contract (ZkflRewards.statementOf) all build the circuit's public `statement` signal this way,
 * so they cannot drift apart: the top 200 bits of keccak256(abi.encode(taskKey, round, H_r, address, chunkIndex))
 * above the 48-bit norm bound.
 */
import { sha256Hex } from '../common/bytes.js';
import { AbiCoder, keccak256 } from 'ethers';
import { toField } from './codec.js';
import type { CircuitParams } from './params.js';

/** Bits of the statement signal that carry the norm bound (the circuit's BOUND_BITS). */
export const NORM_BOUND_BITS = 48n;

export interface UpdateStatement {
  taskId: string;
  round: number;
  /** The client's Ethereum address. */
  address: string;
  /** sha256 (hex) of the global weights the update was computed against. */
  modelHash: string;
  /** The task's per-chunk bound on Σ q². */
  normBound: bigint;
}

/** How a task is named on-chain: sha256 of its id, as 0x-hex bytes32. */
export function taskKey(taskId: string): string {
  return '0x' + sha256Hex(taskId);
}

/** The public `statement` signal chunk `chunkIndex` must carry after its commitment. */
export function statementSignal(statement: UpdateStatement, chunkIndex: number): bigint {
  if (statement.normBound < 0n || statement.normBound >> NORM_BOUND_BITS !== 0n) {
    throw new RangeError(`norm bound ${statement.normBound} does not fit ${NORM_BOUND_BITS} bits`);
  }
  const tag = keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ['bytes32', 'uint256', 'bytes32', 'address', 'uint256'],
      [taskKey(statement.taskId), statement.round, '0x' + statement.modelHash, statement.address, chunkIndex],
    ),
  );
  return ((BigInt(tag) >> 56n) << NORM_BOUND_BITS) | statement.normBound;
}

/** The circuit inputs of every chunk of `q` (zero-padded to whole chunks). */
export function chunkInputs(
  statement: UpdateStatement,
  salt: bigint,
  q: ArrayLike<number>,
  params: CircuitParams,
): Array<Record<string, string | string[]>> {
  const chunks = Math.ceil(q.length / params.chunkSize);
  return Array.from({ length: chunks }, (_, k) => ({
    statement: String(statementSignal(statement, k)),
    q: Array.from({ length: params.chunkSize }, (_, i) => String(toField(q[k * params.chunkSize + i] ?? 0))),
    salt: String(salt),
  }));
}
