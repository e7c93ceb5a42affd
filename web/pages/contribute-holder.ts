/**
 * Who contributes from the page: a key kept in this browser (page-key.ts), or a browser wallet (EIP-1193) the person
 * connects. A page key signs in the worker itself; a wallet stays in the page, and the worker asks it through the
 * page for each signature and transaction (workers/relayed-signer.ts), which the person approves in the wallet.
 */
import {
  BrowserProvider,
  type Eip1193Provider,
  getAddress,
  type JsonRpcSigner,
  type Signer,
  type Wallet,
} from 'ethers';
import type { WalletRequest } from '../workers/relayed-signer.js';
import { h } from '../dom.js';
import { button, labelled, statusLine } from '../form-parts.js';
import { createKey, importKeystore, keystoreFile, storedKey, unlockKey } from '../page-key.js';

declare global {
  interface Window {
    ethereum?: Eip1193Provider;
  }
}

/** The contributing key: `key` when it is kept in the page, `wallet` when a browser wallet holds it. */
export type PageHolder = { address: string; signer: Signer } & ({ key: Wallet } | { wallet: JsonRpcSigner });

/** The key section: unlock the kept key, create one, import or export a keystore. */
function keySection(onHolder: (holder: PageHolder) => void): HTMLElement {
  const password = h('input', { type: 'password', autocomplete: 'current-password' }) as HTMLInputElement;
  const state = statusLine();
  const kept = storedKey();
  const progress = (verb: string) => (share: number) => state.set(`${verb} the key… ${Math.round(share * 100)} %`);
  const use = (promise: Promise<Wallet>): void => {
    promise.then(
      (wallet) => {
        state.set(`Key ${wallet.address} unlocked for this visit.`);
        onHolder({ address: wallet.address, signer: wallet, key: wallet });
      },
      (error: Error) => state.set(error.message, true),
    );
  };
  const importInput = h('input', { type: 'file', accept: '.json,application/json' }) as HTMLInputElement;
  importInput.addEventListener('change', () => {
    void importInput.files?.[0]?.text().then((text) => {
      try {
        state.set(`Keystore of ${importKeystore(text)} kept in this browser: unlock it with its password.`);
      } catch (error) {
        state.set((error as Error).message, true);
      }
    });
  });
  const exportLink = (): void => {
    const file = keystoreFile();
    if (!file) return state.set('No key is kept in this browser yet.', true);
    const link = h('a', { href: URL.createObjectURL(file), download: `zkfl-key-${storedKey()!.address}.json` });
    link.click();
  };
  const form = h(
    'form',
    {},
    h(
      'p',
      { class: 'muted' },
      kept
        ? `A key (${kept.address}) is kept in this browser, encrypted with its password.`
        : 'No key is kept in this browser: create one (kept encrypted with your password), or import a keystore `zkfl key` wrote.',
    ),
    labelled('Password', password),
    button('Unlock the kept key', () => use(unlockKey(password.value, progress('Unlocking')))),
    button('Create a new key', () => use(createKey(password.value, progress('Encrypting')))),
    button('Export the keystore', exportLink),
    labelled('Import a keystore', importInput),
    state.element,
  );
  // Enter in the password field unlocks the kept key, or creates one where none is kept.
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (storedKey()) use(unlockKey(password.value, progress('Unlocking')));
    else use(createKey(password.value, progress('Encrypting')));
  });
  return form;
}

/**
 * The browser wallet's part: connect it (on the task's chain, for an on-chain task, which its claims are sent to).
 * Absent a wallet, a line says so.
 */
function walletSection(onHolder: (holder: PageHolder) => void, chainId: number | undefined): HTMLElement {
  const ethereum = window.ethereum;
  if (!ethereum) return h('p', { class: 'muted' }, 'No browser wallet was found: keep a key in this page instead.');
  const state = statusLine();
  const connect = async (): Promise<PageHolder> => {
    const provider = new BrowserProvider(ethereum);
    const [account] = (await provider.send('eth_requestAccounts', [])) as string[];
    if (!account) throw new Error('the wallet shared no account');
    const on = Number((await provider.getNetwork()).chainId);
    if (chainId !== undefined && on !== chainId) {
      throw new Error(
        `the wallet is on chain ${on}; switch it to chain ${chainId}, where this task pays, and connect again`,
      );
    }
    const wallet = await provider.getSigner(account);
    return { address: getAddress(account), signer: wallet, wallet };
  };
  const connectButton = button('Connect a browser wallet', () => {
    connect().then(
      (holder) => {
        state.set(`Wallet account ${holder.address} connected: it asks you to approve each signature.`);
        onHolder(holder);
      },
      (error: Error) => state.set(error.message, true),
    );
  });
  return h('div', {}, connectButton, state.element);
}

/** The holder's section: a browser wallet, or a key kept in the page. */
export function holderSection(onHolder: (holder: PageHolder) => void, chainId: number | undefined): HTMLElement {
  return h('section', {}, h('h2', {}, 'Your key'), walletSection(onHolder, chainId), keySection(onHolder));
}

/** Does what the worker asks of a browser wallet; answers the signature or the transaction's hash. */
export async function walletDoes(wallet: JsonRpcSigner, request: WalletRequest): Promise<string> {
  if (request.kind === 'message') return wallet.signMessage(request.message);
  const { to, data, value, chainId } = request;
  return wallet.sendUncheckedTransaction({ to, data, value, chainId });
}
