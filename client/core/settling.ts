/**
 * What the round loop needs of a data holder's settlement: keep each accepted update's receipt and proofs, check the
 * escrow, lock and release the stake, and claim what is owed. settlement.ts does it on any platform; where the owed
 * records are kept is the platform's (a file beside the key in Node: client/owed-file.ts).
 */
import type { Signer } from 'ethers';
import type { SolidityChunkProof } from '../../contracts/accepted-set.js';
import type { Receipt } from '../../protocol/receipt.js';
import type { TaskView } from '../../protocol/rest.js';

/**
 * The data holder's key as the client uses it: an ethers Wallet (Node, or a key kept in a page), or a browser wallet
 * that the contributor page's worker reaches through the page (web/workers/relayed-signer.ts).
 */
export type HolderSigner = Signer & { readonly address: string };

export interface OwedContribution {
  taskId: string;
  round: number;
  /** keccak256 of the chunk commitments. */
  commitment: string;
  /** Kept to answer a challenge against this leaf. */
  proofs: SolidityChunkProof[];
  receipt: Receipt;
  /**
   * owed: the round is not closed on-chain yet; listed: its leaf is in the posted set, claimable at `claimableAt`;
   * claimed: paid; omitted: left out of the set and claimed as an omission (see `answerBy`); compensated: the
   * coordinator's bond paid for the omission; lost: nothing more can be done (a voided leaf, a set that does not hash
   * to its root after the window, a claim after the deadline): `problem` says why.
   */
  state: 'owed' | 'listed' | 'claimed' | 'omitted' | 'compensated' | 'lost';
  leaf?: { index: number; amount: string; proof: string[] };
  /** Unix seconds. */
  claimableAt?: number;
  /** Unix seconds: when an omission claim's answer window ends. */
  answerBy?: number;
  /** Token base units paid, once claimed or compensated. */
  reward?: string;
  problem?: string;
}

export interface Settling {
  /** Keeps an accepted update, owed until its round is settled. */
  add(entry: Pick<OwedContribution, 'taskId' | 'round' | 'commitment' | 'proofs' | 'receipt'>): void;
  /** The task's contributions still owed something. */
  owed(taskId: string): OwedContribution[];
  /** Every contribution to the task, settled or not. */
  all(taskId: string): OwedContribution[];
  /** Why the task's escrow could not pay this holder, or '' if it can. */
  escrowProblem(task: TaskView, coordinator: string, verifier: string | undefined): Promise<string>;
  /** Locks the task's stake, if it asks for one. */
  lockStake(task: TaskView): Promise<void>;
  /** Takes the stake back once the task allows it. */
  releaseStake(taskId: string): Promise<void>;
  /** Settles what is owed until `deadline` (ms): claims once claimable unless `claim` is false. */
  settle(taskId: string, deadline: number, claim?: boolean): Promise<void>;
  /** Stops watching the chain. */
  close(): Promise<void>;
}
