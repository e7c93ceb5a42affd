/**
 * A JSON-RPC connection to any EVM chain, as every party makes one: the coordinator, the CLI, the Node client and the
 * contributor page's worker. Platform-neutral (chain.ts, which starts local chains, is Node's).
 */
import { JsonRpcProvider } from 'ethers';

/** Local chains mine a block per transaction; polling them every 4 s (ethers' default) would only add waiting. */
export const LOCAL_POLLING_MS = 100;

/**
 * ethers reuses an identical request's answer for 250 ms by default; settlement re-reads state right after its own
 * transactions (and tests re-send a call that just reverted), so every request goes to the chain.
 */
export const NO_CACHE = { cacheTimeout: -1 } as const;

/** A JSON-RPC provider for `url`. With `chainId` it never probes the network, so an RPC outage fails fast. */
export function connectRpc(url: string, chainId?: number): JsonRpcProvider {
  const provider =
    chainId === undefined
      ? new JsonRpcProvider(url, undefined, NO_CACHE)
      : new JsonRpcProvider(url, chainId, { ...NO_CACHE, staticNetwork: true, batchMaxCount: 1 });
  if (/^https?:\/\/(127\.0\.0\.1|localhost)[:/]/.test(url)) provider.pollingInterval = LOCAL_POLLING_MS;
  return provider;
}
