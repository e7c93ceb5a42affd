/**
 * The coordinator's receipt for an accepted update: an EIP-712 signature over (task, round, contributor, update
 * commitment) by the coordinator's key — the address the task's on-chain record names as its coordinator. A client
 * keeps it; if the coordinator later leaves the update out of the accepted set it posts, the receipt proves the
 * omission to anyone.
 */
import { type Signer, verifyTypedData } from 'ethers';
import { z } from 'zod';

export interface ReceiptBody {
  /** sha256 of the task id (circuits/statement.ts taskKey), 0x-hex. */
  taskKey: string;
  round: number;
  contributor: string;
  /** keccak256 of the update's chunk commitments (contracts/accepted-set.ts updateCommitment). */
  updateCommitment: string;
}

export const receiptSchema = z.strictObject({
  taskKey: z.string().regex(/^0x[0-9a-f]{64}$/),
  round: z.number().int().positive(),
  contributor: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  updateCommitment: z.string().regex(/^0x[0-9a-f]{64}$/),
  coordinator: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  signature: z.string().regex(/^0x[0-9a-f]+$/),
});
export type Receipt = z.infer<typeof receiptSchema>;

const domain = { name: 'zkfl', version: '1' };
const types = {
  Receipt: [
    { name: 'taskKey', type: 'bytes32' },
    { name: 'round', type: 'uint256' },
    { name: 'contributor', type: 'address' },
    { name: 'updateCommitment', type: 'bytes32' },
  ],
};

export async function signReceipt(coordinator: Signer, body: ReceiptBody): Promise<Receipt> {
  return {
    ...body,
    coordinator: await coordinator.getAddress(),
    signature: await coordinator.signTypedData(domain, types, body),
  };
}

/** The address that signed the receipt (compare it with the task's coordinator). */
export function receiptSigner(receipt: Receipt): string {
  const { taskKey, round, contributor, updateCommitment, signature } = receipt;
  return verifyTypedData(domain, types, { taskKey, round, contributor, updateCommitment }, signature);
}
