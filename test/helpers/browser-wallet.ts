/**
 * A browser wallet (EIP-1193) for a page under test, backed by a real key on a real chain: the page asks
 * `window.ethereum`, and `wallet` signs (personal_sign, eth_signTypedData_v4) and sends (eth_sendTransaction) as a
 * person approving each request would; any other method is the chain's own answer. `options.chainId` puts the wallet
 * on another chain than the provider's; `options.refuse` lists methods the person declines (EIP-1193's 4001 error).
 * Returns the methods asked, in order.
 */
import { getBytes, type TypedDataField, toQuantity, type Wallet } from 'ethers';
import type { JsonRpcProvider } from 'ethers';
import type { Page } from 'playwright-core';

type TypedData = { domain: object; types: Record<string, TypedDataField[]>; message: Record<string, unknown> };

export async function injectWallet(
  page: Page,
  wallet: Wallet,
  provider: JsonRpcProvider,
  options: { chainId?: number; refuse?: string[] } = {},
): Promise<string[]> {
  const asked: string[] = [];
  const chainId = options.chainId ?? Number((await provider.getNetwork()).chainId);
  const signer = wallet.connect(provider);
  // One request at a time, as a wallet's approval prompts come: its transactions take nonces in order.
  let queue: Promise<unknown> = Promise.resolve();
  const answer = async (method: string, params: unknown[]): Promise<unknown> => {
    if (options.refuse?.includes(method)) throw Object.assign(new Error('User rejected the request.'), { code: 4001 });
    switch (method) {
      case 'eth_requestAccounts':
      case 'eth_accounts':
        return [wallet.address];
      case 'eth_chainId':
        return toQuantity(chainId);
      case 'personal_sign':
        return signer.signMessage(getBytes(params[0] as string));
      case 'eth_signTypedData_v4': {
        const { domain, types, message } = JSON.parse(params[1] as string) as TypedData;
        const { EIP712Domain: _, ...rest } = types;
        return signer.signTypedData(domain, rest, message);
      }
      case 'eth_sendTransaction': {
        const { to, data, value, chainId: on } = params[0] as Record<string, string | undefined>;
        // As a wallet does: a transaction for another chain than the one it is on is refused.
        if (on !== undefined && Number(on) !== chainId) throw new Error(`the wallet is on chain ${chainId}, not ${on}`);
        return (await signer.sendTransaction({ to, data, value: value ?? 0 })).hash;
      }
      default:
        return provider.send(method, params);
    }
  };
  await page.exposeFunction('zkflTestWallet', (method: string, params: unknown[]) => {
    asked.push(method);
    const next = queue.then(() => answer(method, params));
    queue = next.catch(() => undefined);
    return next;
  });
  // As source text: a function would be serialized with the test runner's transpiler helpers in it.
  await page.addInitScript(
    'window.ethereum = { request: ({ method, params }) => window.zkflTestWallet(method, params ?? []) };',
  );
  return asked;
}
