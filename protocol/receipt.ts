/**
 * The coordinator's receipt for an accepted update: an EIP-712 signature over (task, round, contributor, update
 * commitment) by the coordinator's key — the address the task's on-chain record names as its coordinator. A client
 * keeps it; if the coordinator leaves the update out of the accepted set it posts, the client shows it to the rewards
 * contract (claimOmission), which checks it under its own EIP-712 domain (name "zkfl", version "1", chain id and
 * contract address): receipts for an `onchain` task are signed under that domain, others under name and version only.
 */
import { type Signer, type TypedDataDomain, verifyTypedData } from 'ethers';
import { z } from 'zod';

export interface ReceiptBody {
  /** sha256 of the task id (circuits/statement.ts taskKey), 0x-hex. */
  taskKey: string;
  round: number;
  contributor: string;
  /** keccak256 of the update's chunk commitments (contracts/accepted-set.ts updateCommitment). */
  updateCommitment: string;
}

/** Where a receipt can be enforced: the chain and rewards contract of an `onchain` task. */
export interface ReceiptChain {
  chainId: number;
  verifyingContract: string;
}

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/);
export const receiptSchema = z.strictObject({
  taskKey: z.string().regex(/^0x[0-9a-f]{64}$/),
  round: z.number().int().positive(),
  contributor: address,
  updateCommitment: z.string().regex(/^0x[0-9a-f]{64}$/),
  coordinator: address,
  chain: z.strictObject({ chainId: z.number().int().positive(), verifyingContract: address }).optional(),
  signature: z.string().regex(/^0x[0-9a-f]+$/),
});
export type Receipt = z.infer<typeof receiptSchema>;

const domainOf = (chain?: ReceiptChain): TypedDataDomain => ({ name: 'zkfl', version: '1', ...chain });
const types = {
  Receipt: [
    { name: 'taskKey', type: 'bytes32' },
    { name: 'round', type: 'uint256' },
    { name: 'contributor', type: 'address' },
    { name: 'updateCommitment', type: 'bytes32' },
  ],
};

export async function signReceipt(coordinator: Signer, body: ReceiptBody, chain?: ReceiptChain): Promise<Receipt> {
  return {
    ...body,
    coordinator: await coordinator.getAddress(),
    ...(chain ? { chain } : {}),
    signature: await coordinator.signTypedData(domainOf(chain), types, body),
  };
}

/** The address that signed the receipt (compare it with the task's coordinator). */
export function receiptSigner(receipt: Receipt): string {
  const { taskKey, round, contributor, updateCommitment, signature, chain } = receipt;
  return verifyTypedData(domainOf(chain), types, { taskKey, round, contributor, updateCommitment }, signature);
}
