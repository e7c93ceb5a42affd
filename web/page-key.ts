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

/** A new key, kept encrypted with `password`. */
export async function createKey(password: string, onProgress: (share: number) => void): Promise<Wallet> {
  if (password.length < 8) throw new ZkflError('VALIDATION_FAILED', 'choose a password of at least 8 characters');
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  localStorage.setItem(storageKey, await wallet.encrypt(password, onProgress));
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

/** Keeps a keystore file (as `zkfl key` writes one) instead of the key kept so far; returns its address. */
export function importKeystore(text: string): string {
  if (!isKeystoreJson(text)) {
    throw new ZkflError('DATA_MALFORMED', 'not an encrypted keystore: choose the JSON file `zkfl key` wrote');
  }
  localStorage.setItem(storageKey, text.trim());
  return storedKey()!.address;
}

/** The kept keystore as a file to save. */
export const keystoreFile = (): Blob | undefined => {
  const stored = storedKey();
  return stored && new Blob([stored.json], { type: 'application/json' });
};
