/**
 * An on-chain task's rewards on the contributor page: the key's ETH (its claims pay their gas), what the task paid it,
 * which rounds are still being settled, and the records behind them as a file: the same JSON `zkfl client` keeps
 * beside its key (`settlement-<address>.json`), so that nothing owed lives only in this browser.
 */
import { formatEther, type JsonRpcProvider } from 'ethers';
import type { OwedContribution } from '../../client/core/settling.js';
import { connectRpc } from '../../contracts/rpc.js';
import { h, tokens } from '../dom.js';
import { button, statusLine } from '../form-parts.js';

const settling = new Set<OwedContribution['state']>(['owed', 'listed', 'omitted']);

export class RewardsView {
  readonly element: HTMLElement;
  private readonly state = statusLine();
  private readonly provider: JsonRpcProvider;
  private address: string | undefined;
  private entries: OwedContribution[] = [];
  /** The latest `show`: an earlier one whose balance arrives later must not overwrite it. */
  private shown = 0;

  constructor(chain: { publicRpcUrl: string; chainId: number }) {
    this.provider = connectRpc(chain.publicRpcUrl, chain.chainId);
    this.element = h(
      'section',
      {},
      h('h2', {}, 'Rewards'),
      h(
        'p',
        { class: 'muted' },
        'This task pays on-chain: once each round’s challenge window has passed, this page claims what it owes you, every round in one transaction sent from your key.',
      ),
      this.state.element,
      button('Export what you are owed', () => this.export()),
    );
  }

  /** What `address` holds for gas and was paid, from its kept records `entries`. */
  async show(address: string, entries: OwedContribution[]): Promise<void> {
    this.address = address;
    this.entries = entries;
    const call = ++this.shown;
    const eth = await this.provider.getBalance(address);
    if (call !== this.shown) return;
    const paid = entries.reduce((sum, entry) => sum + BigInt(entry.reward ?? 0), 0n);
    const open = entries.filter((entry) => settling.has(entry.state)).map((entry) => entry.round);
    const gas =
      eth === 0n
        ? `${address} holds no ETH: its claims cannot be sent until some is sent to it for gas.`
        : `${address} holds ${formatEther(eth)} ETH for the gas of its claims.`;
    this.state.set(
      `${gas} Paid so far: ${tokens(paid)} tokens.${open.length > 0 ? ` Being settled: round ${open.join(', ')}.` : ''}`,
      eth === 0n && open.length > 0,
    );
  }

  /** Saves the records as `zkfl client` keeps them, so that it can claim them from another machine. */
  private export(): void {
    if (!this.address) return this.state.set('Unlock a key or connect a wallet first.', true);
    const file = new Blob([JSON.stringify(this.entries, null, 2) + '\n'], { type: 'application/json' });
    h('a', { href: URL.createObjectURL(file), download: `settlement-${this.address}.json` }).click();
  }
}
