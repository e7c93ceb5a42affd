/**
 * One update's statement: what a client proves about it and what a verifier expects to see proven. Both sides
 * build the circuit's inputs and public signals here, so they cannot drift apart.
 */
import { addressField, modelHashField, taskIdField, toField } from './codec.js';
import type { CircuitParams } from './params.js';

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

/** The public signals chunk `chunkIndex` must carry, after its commitment, in circuit order. */
export function publicInputs(statement: UpdateStatement, chunkIndex: number): string[] {
  return [
    taskIdField(statement.taskId),
    BigInt(statement.round),
    addressField(statement.address),
    modelHashField(statement.modelHash),
    BigInt(chunkIndex),
    statement.normBound,
  ].map(String);
}

/** The circuit inputs of every chunk of `q` (zero-padded to whole chunks). */
export function chunkInputs(
  statement: UpdateStatement,
  salt: bigint,
  q: ArrayLike<number>,
  params: CircuitParams,
): Array<Record<string, string | string[]>> {
  const chunks = Math.ceil(q.length / params.chunkSize);
  return Array.from({ length: chunks }, (_, k) => {
    const [taskId, round, address, modelHash, chunkIndex, normBound] = publicInputs(statement, k);
    const values = Array.from({ length: params.chunkSize }, (_, i) =>
      String(toField(q[k * params.chunkSize + i] ?? 0)),
    );
    return {
      taskId: taskId!,
      round: round!,
      address: address!,
      modelHash: modelHash!,
      chunkIndex: chunkIndex!,
      normBound: normBound!,
      q: values,
      salt: String(salt),
    };
  });
}
