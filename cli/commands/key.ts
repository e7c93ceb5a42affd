/** `zkfl key`. */
import { Wallet } from 'ethers';
import { existsSync } from 'node:fs';
import { keyAddress, loadWallet, saveWallet } from '../../common/identity.js';
import { ZkflError } from '../../common/errors.js';
import { keyOptions, parse, password, required, type Values } from '../args.js';

/** This command's lines of `zkfl --help`. */
export const usage = `  zkfl key new|address --key FILE [--password-file FILE]
  zkfl key import --from PLAINTEXT_KEY --key FILE [--password-file FILE]`;

/** The password a new keystore is encrypted with: one must be given. */
function newPassword(values: Values): string {
  const given = password(values);
  if (given !== undefined) return given;
  throw new ZkflError(
    'VALIDATION_FAILED',
    'a new keystore needs a password: give --password-file FILE or ZKFL_PASSWORD',
    'password-file',
  );
}

/** `zkfl key new|import|address`: encrypted keystores for data holders, owners and coordinators. */
export function run(args: string[]): void {
  const [sub, ...rest] = args;
  const values = parse(rest, { ...keyOptions, from: { type: 'string' } });
  const path = required(values, 'key');
  if (sub === 'new') {
    if (existsSync(path)) throw new ZkflError('VALIDATION_FAILED', `${path} exists already`, 'key');
    const wallet = new Wallet(Wallet.createRandom().privateKey);
    saveWallet(path, wallet, newPassword(values));
    process.stdout.write(`${wallet.address}\n`);
  } else if (sub === 'import') {
    if (existsSync(path)) throw new ZkflError('VALIDATION_FAILED', `${path} exists already`, 'key');
    const wallet = loadWallet(required(values, 'from'));
    saveWallet(path, wallet, newPassword(values));
    process.stdout.write(`${wallet.address}\n`);
    process.stderr.write(
      `encrypted into ${path}; delete the plaintext ${String(values.from)} once you have checked it\n`,
    );
  } else if (sub === 'address') {
    process.stdout.write(`${keyAddress(path)}\n`);
  } else {
    throw new ZkflError('VALIDATION_FAILED', 'expected `zkfl key new|import|address`', 'command');
  }
}
