/**
 * An Ethereum identity. A data holder's key signs its login nonce, is bound into its proofs and receives its rewards; a
 * coordinator's key signs receipts and round records and sends its on-chain transactions.
 * Generated on first use and stored (0600) where its owner says.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Wallet } from 'ethers';
import { createLogger } from './log.js';
import { ZkflError } from '../protocol/errors.js';

const log = createLogger('identity');

export function loadOrCreateWallet(path: string): Wallet {
  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8').trim();
    try {
      const key = text.startsWith('{') ? (JSON.parse(text) as { privateKey: string }).privateKey : text;
      return new Wallet(key);
    } catch {
      throw new ZkflError('DATA_MALFORMED', `${path} does not hold a private key ({"privateKey": "0x…"} or 0x… hex)`);
    }
  }
  const wallet = Wallet.createRandom();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify({ address: wallet.address, privateKey: wallet.privateKey }, null, 2) + '\n', {
    mode: 0o600,
  });
  log.info('created a new key', { address: wallet.address, path });
  return new Wallet(wallet.privateKey);
}
