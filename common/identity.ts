/**
 * An Ethereum identity. A data holder's key signs its login, is bound into its proofs and receives its rewards; a
 * coordinator's key signs receipts and round records and sends its on-chain transactions; an owner's key signs in
 * and escrows.
 *
 * Keys are stored as encrypted JSON keystores (Web3 Secret Storage, scrypt: ethers' `Wallet.encrypt`), unlocked with
 * a password (`--password-file` or `ZKFL_PASSWORD`). A key created without a password, and a plaintext key made by
 * an older version, are plaintext files (mode 0600) and load with a warning; `zkfl key import` encrypts one.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { encryptKeystoreJsonSync, getAddress, isKeystoreJson, Wallet } from 'ethers';
import { createLogger } from './log.js';
import { ZkflError } from './errors.js';

const log = createLogger('identity');

/** The address a key file holds, without unlocking it (a keystore names its address in the clear). */
export function keyAddress(path: string): string {
  const text = readKeyFile(path);
  if (isKeystoreJson(text)) return getAddress((JSON.parse(text) as { address: string }).address);
  return plaintextWallet(path, text).address;
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new ZkflError('DATA_MISSING', `cannot read the key ${path}: ${(error as Error).message}`);
  }
}

function plaintextWallet(path: string, text: string): Wallet {
  try {
    const key = text.startsWith('{') ? (JSON.parse(text) as { privateKey: string }).privateKey : text;
    return new Wallet(key);
  } catch {
    throw new ZkflError(
      'DATA_MALFORMED',
      `${path} holds no key: expected an encrypted keystore, {"privateKey": "0x…"} or 0x… hex`,
    );
  }
}

/** Loads the key at `path`, unlocking a keystore with `password`. */
export function loadWallet(path: string, password?: string): Wallet {
  const text = readKeyFile(path);
  if (!isKeystoreJson(text)) {
    log.warn('the key is stored unencrypted: encrypt it with `zkfl key import`', { path });
    return plaintextWallet(path, text);
  }
  if (password === undefined) {
    throw new ZkflError('AUTH_FAILED', `${path} is an encrypted keystore: give --password-file FILE or ZKFL_PASSWORD`);
  }
  try {
    const wallet = Wallet.fromEncryptedJsonSync(text, password);
    return new Wallet(wallet.privateKey);
  } catch {
    throw new ZkflError('AUTH_FAILED', `wrong password for the keystore ${path}`);
  }
}

/** scrypt's cost for new keystores: 2^17, the Web3 Secret Storage default (about a second per unlock). */
export const defaultKeystoreLogN = 17;
let keystoreLogN = defaultKeystoreLogN;

/**
 * Sets scrypt's cost (log2 N) for keystores created from now on; one that exists keeps the cost it names. Lower is
 * weaker against password guessing: only tests, where the keystore is not what is tested, lower it
 * (`ZKFL_KEYSTORE_LOG_N`, read once by the CLI).
 */
export function setKeystoreCost(logN: number): void {
  if (!Number.isInteger(logN) || logN < 10 || logN > 20) {
    throw new ZkflError('VALIDATION_FAILED', `scrypt's log2 N must be a whole number in [10, 20], not ${logN}`);
  }
  keystoreLogN = logN;
}

/** Writes `wallet` to `path` (0600): a keystore encrypted with `password`, or plaintext without one. */
export function saveWallet(path: string, wallet: Wallet, password?: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const text =
    password === undefined
      ? JSON.stringify({ address: wallet.address, privateKey: wallet.privateKey }, null, 2)
      : encryptKeystoreJsonSync(wallet, password, { scrypt: { N: 2 ** keystoreLogN } });
  writeFileSync(path, text + '\n', { mode: 0o600, flag: 'wx' });
}

/** Loads the key at `path`, or creates one there (encrypted when a password is given). */
export function loadOrCreateWallet(path: string, password?: string): Wallet {
  if (existsSync(path)) return loadWallet(path, password);
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  saveWallet(path, wallet, password);
  if (password === undefined) {
    log.warn('created a new key, stored unencrypted (give a password to encrypt keys)', {
      address: wallet.address,
      path,
    });
  } else {
    log.info('created a new encrypted key', { address: wallet.address, path });
  }
  return wallet;
}
