/**
 * A task for known holders (`spec.holders`): only the addresses its owner named may take part.
 *
 * Why it exists: keys are free, and no valuation of updates can tell one person's data trained under several keys
 * from as many people with similar data (their updates are as far apart as honest holders' are: SECURITY.md, "Copies
 * under many keys"). Where the owner knows who its holders are, naming their addresses is what makes one person one
 * player. The coordinator refuses anyone else at the join, before consent; the clients say so before asking for it;
 * the terms carry the list's hash, so a consent is to this list; and the audit names an accepted update from an
 * address outside it.
 */
import { keccak256, toUtf8Bytes } from 'ethers';
import { ZkflError } from '../common/errors.js';
import { canonicalJson } from './canonical.js';

/** Whether `address` may take part in a task that names `holders` (anyone, when it names none). */
export function invited(holders: readonly string[] | undefined, address: string): boolean {
  const wanted = address.toLowerCase();
  return holders === undefined || holders.some((holder) => holder.toLowerCase() === wanted);
}

/** The terms' digest of a holder list: keccak256 of its addresses lowercased and sorted, so order and case do not count. */
export function holdersHash(holders: readonly string[]): string {
  return keccak256(toUtf8Bytes(canonicalJson(holders.map((holder) => holder.toLowerCase()).sort())));
}

/** Who may take part in a task that names `count` holders, in the words its terms are shown with. */
export function holdersSummary(count: number): string {
  return `only the ${count} address(es) the owner named`;
}

/** The refusal of an address a task does not name, in words (the contributor page says it before consent). */
export function notInvitedMessage(taskId: string, count: number, address: string): string {
  return `task ${taskId} is open only to the ${count} address(es) its owner named, and ${address} is not one of them`;
}

/** Throws NOT_INVITED unless `address` may take part in task `taskId` (the coordinator's join, the client's consent). */
export function checkInvited(taskId: string, holders: readonly string[] | undefined, address: string): void {
  if (!invited(holders, address))
    throw new ZkflError('NOT_INVITED', notInvitedMessage(taskId, holders!.length, address));
}
