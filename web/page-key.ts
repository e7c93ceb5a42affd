/**
 * A contributor's key kept in this browser: an encrypted keystore (Web3 Secret Storage, scrypt at the cost
 * `zkfl key` uses), the same JSON `zkfl key` writes and reads, in localStorage. It is unlocked with its password for
 * one visit and never stored in the clear; a keystore exported from here unlocks with `zkfl client --key`.
 */
import { getAddress, isKeystoreJson, Wallet } from 'ethers';
import { ZkflError } from '../common/errors.js';

const storageKey = 'zkfl:keystore';

/** The keystore kept in this browser, and the address it names in the clear. */
export function storedKey(): { address: string; json: string } | undefined {
  const json = localStorage.getItem(storageKey);
  if (!json) return undefined;
  return { address: getAddress((JSON.parse(json) as { address: string }).address), json };
}

/** Whether the kept key was saved to a file in this visit: only then may it be forgotten or replaced. */
let exported = false;

/** Refuses to lose the kept key: it may hold receipts and what they are owed. */
function refuseToReplace(address?: string): void {
  const kept = storedKey();
  if (kept && kept.address !== address && !exported) {
    throw new ZkflError(
      'VALIDATION_FAILED',
      `a key (${kept.address}) is kept in this browser: export its keystore first, so that replacing it loses nothing`,
    );
  }
}

/** A new key, kept encrypted with `password` (in place of a kept key only once that was exported). */
export async function createKey(password: string, onProgress: (share: number) => void): Promise<Wallet> {
  if (password.length < 8) throw new ZkflError('VALIDATION_FAILED', 'choose a password of at least 8 characters');
  refuseToReplace();
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  localStorage.setItem(storageKey, await wallet.encrypt(password, onProgress));
  exported = false;
  return wallet;
}

/** The kept key, unlocked; AUTH_FAILED for a wrong password. */
export async function unlockKey(password: string, onProgress: (share: number) => void): Promise<Wallet> {
  const stored = storedKey();
  if (!stored) throw new ZkflError('DATA_MISSING', 'no key is kept in this browser');
  try {
    return new Wallet((await Wallet.fromEncryptedJson(stored.json, password, onProgress)).privateKey);
  } catch {
    throw new ZkflError('AUTH_FAILED', 'wrong password for the key kept in this browser');
  }
}

/**
 * Keeps a keystore file (as `zkfl key` writes one) instead of the key kept so far (only once that was exported);
 * returns its address.
 */
export function importKeystore(text: string): string {
  if (!isKeystoreJson(text)) {
    throw new ZkflError('DATA_MALFORMED', 'not an encrypted keystore: choose the JSON file `zkfl key` wrote');
  }
  refuseToReplace(getAddress((JSON.parse(text) as { address: string }).address));
  localStorage.setItem(storageKey, text.trim());
  exported = false;
  return storedKey()!.address;
}

/** The kept keystore as a file to save. */
export function keystoreFile(): Blob | undefined {
  const stored = storedKey();
  exported ||= stored !== undefined;
  return stored && new Blob([stored.json], { type: 'application/json' });
}
