/**
 * What a contributor page keeps in this browser between visits, by task and address: the consent it signed (so a
 * reloaded page resumes without asking again, while the terms are the same), the coordinator's receipts (its
 * signed word that it took each update, which tell a reloaded page what not to send again), and, for an on-chain
 * task, what it owes (client/core/settling.ts: each round's receipt and proofs until it is claimed).
 */
import type { OwedContribution } from '../client/core/settling.js';
import type { Receipt } from '../protocol/receipt.js';
import type { Consent } from '../protocol/terms.js';

const keyOf = (kind: 'consent' | 'receipts' | 'owed', taskId: string, address: string): string =>
  `zkfl:${kind}:${taskId}:${address.toLowerCase()}`;

function read<T>(key: string): T | undefined {
  const text = localStorage.getItem(key);
  return text === null ? undefined : (JSON.parse(text) as T);
}

export function keepConsent(taskId: string, address: string, consent: Consent): void {
  localStorage.setItem(keyOf('consent', taskId, address), JSON.stringify(consent));
}

/** The consent this address signed for the task, if it was to these very terms. */
export function keptConsent(taskId: string, address: string, termsHash: string): Consent | undefined {
  const consent = read<Consent>(keyOf('consent', taskId, address));
  return consent?.termsHash === termsHash ? consent : undefined;
}

export function keptReceipts(taskId: string, address: string): Receipt[] {
  return read<Receipt[]>(keyOf('receipts', taskId, address)) ?? [];
}

export function keepReceipt(taskId: string, receipt: Receipt): void {
  const kept = keptReceipts(taskId, receipt.contributor).filter((entry) => entry.round !== receipt.round);
  localStorage.setItem(keyOf('receipts', taskId, receipt.contributor), JSON.stringify([...kept, receipt]));
}

export function keptOwed(taskId: string, address: string): OwedContribution[] {
  return read<OwedContribution[]>(keyOf('owed', taskId, address)) ?? [];
}

export function keepOwed(taskId: string, address: string, entries: OwedContribution[]): void {
  localStorage.setItem(keyOf('owed', taskId, address), JSON.stringify(entries));
}
