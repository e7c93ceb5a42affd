/**
 * A browser wallet (EIP-1193) as the contributor page's worker uses it. The wallet lives in the page (a worker has no
 * `window.ethereum`), so each signature and each transaction is asked of the page, which asks the wallet, and so the
 * person, who approves it there. The worker reads the chain through its public RPC endpoint.
 */
import { AbstractSigner, type Provider, type TransactionRequest, type TransactionResponse, toQuantity } from 'ethers';

/** What the worker asks the page's wallet for; the answer is the signature, or the sent transaction's hash. */
export type WalletRequest =
  | { kind: 'message'; message: string }
  /** `chainId` lets the wallet refuse to send on another chain than the one the worker reads. */
  | { kind: 'transaction'; to: string; data: string; value: string; chainId: string };

/** How long a transaction the wallet sent may take to reach the public endpoint before the worker gives up on it. */
const SEEN_WITHIN_MS = 60_000;

export class RelayedSigner extends AbstractSigner {
  constructor(
    readonly address: string,
    provider: Provider | null,
    private readonly ask: (request: WalletRequest) => Promise<string>,
  ) {
    super(provider);
  }

  connect(provider: Provider | null): RelayedSigner {
    return new RelayedSigner(this.address, provider, this.ask);
  }

  getAddress(): Promise<string> {
    return Promise.resolve(this.address);
  }

  signMessage(message: string | Uint8Array): Promise<string> {
    if (typeof message !== 'string') return Promise.reject(new Error('the page asks its wallet to sign text only'));
    return this.ask({ kind: 'message', message });
  }

  signTypedData(): Promise<string> {
    return Promise.reject(new Error('typed data (the consent) is signed by the page itself'));
  }

  signTransaction(): Promise<string> {
    return Promise.reject(new Error('a browser wallet sends its transactions itself'));
  }

  /** Has the wallet send `tx`, then follows it on the public endpoint (where `wait()` reads its receipt). */
  async sendTransaction(tx: TransactionRequest): Promise<TransactionResponse> {
    const provider = this.provider;
    if (!provider) throw new Error('the worker reads the chain through a provider, and has none');
    if (typeof tx.to !== 'string') throw new Error('the page sends transactions to a contract address only');
    const { chainId } = await provider.getNetwork();
    const hash = await this.ask({
      kind: 'transaction',
      to: tx.to,
      data: tx.data ?? '0x',
      value: toQuantity(tx.value ?? 0),
      chainId: toQuantity(chainId),
    });
    const giveUp = Date.now() + SEEN_WITHIN_MS;
    while (Date.now() < giveUp) {
      const sent = await provider.getTransaction(hash);
      if (sent) return sent;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(
      `the wallet sent ${hash}, but the chain's public endpoint has not seen it: is the wallet on this chain?`,
    );
  }
}
