/** `zkfl coordinator`. */
import { isAddress } from 'ethers';
import { type CoordinatorOptions, defaultCoordinatorOptions, limitsFileSchema } from '../../coordinator/options.js';
import { startCoordinator } from '../../coordinator/server.js';
import { ZkflError } from '../../common/errors.js';
import { parseOrThrow } from '../../protocol/validate.js';
import { chainFrom, chainOptions, integer, keyOptions, parse, password, readJson, type Values } from '../args.js';

/** This command's lines of `zkfl --help`. */
export const usage = `  zkfl coordinator [--host H] [--port P] [--data-dir DIR] [--database postgres://…] [--redis redis://…] [--lease-seconds S]
                   [--public-url URL[,URL…]] [--data-root DIR] [--owners ADDR,…] [--limits FILE] [--max-payload-mb N]
                   [--circuit default|test] [--verify-timeout-seconds S]
                   [--key FILE] [CHAIN [--public-rpc URL]]`;

/** `--limits FILE`: the operator's limits (coordinator/options.ts limitsFileSchema). */
function limitsFrom(path: string): Partial<CoordinatorOptions> {
  const json = readJson(path, 'limits');
  const { task, rate, rejections } = parseOrThrow(limitsFileSchema, json, `limits file ${path}`);
  return {
    ...(task ? { limits: task } : {}),
    ...(rate ? { rateLimits: rate } : {}),
    ...(rejections ? { rejectionLimits: rejections } : {}),
  };
}

/** An http(s) URL given to `--flag`, parsed. */
function httpUrl(text: string, flag: string): URL {
  let parsed: URL | undefined;
  try {
    parsed = new URL(text);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol)) {
    throw new ZkflError('VALIDATION_FAILED', `--${flag}: ${text} is not an http(s) URL`, flag);
  }
  return parsed;
}

/** `--public-url URL[,URL…]`: http(s) origins the coordinator is reached at. */
function publicUrlsFrom(list: string | undefined): string[] | undefined {
  return list?.split(',').map((url) => httpUrl(url, 'public-url').origin);
}

/** --rpc and --deployment, with `--public-rpc URL`: the JSON-RPC endpoint contributor pages claim through. */
function coordinatorChain(values: Values): CoordinatorOptions['chain'] {
  const chain = chainFrom(values);
  const publicRpc = values['public-rpc'] as string | undefined;
  if (publicRpc === undefined) return chain;
  if (!chain) throw new ZkflError('VALIDATION_FAILED', '--public-rpc needs --rpc and --deployment', 'public-rpc');
  return { ...chain, publicRpcUrl: httpUrl(publicRpc, 'public-rpc').href };
}

export async function run(args: string[]): Promise<void> {
  const values = parse(args, {
    host: { type: 'string' },
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    database: { type: 'string' },
    redis: { type: 'string' },
    'lease-seconds': { type: 'string' },
    circuit: { type: 'string' },
    'data-root': { type: 'string' },
    owners: { type: 'string' },
    limits: { type: 'string' },
    'max-payload-mb': { type: 'string' },
    'public-url': { type: 'string' },
    'public-rpc': { type: 'string' },
    'verify-timeout-seconds': { type: 'string' },
    ...keyOptions,
    ...chainOptions,
  });
  const chain = coordinatorChain(values);
  const publicUrls = publicUrlsFrom(values['public-url'] as string | undefined);
  const owners = ((values.owners as string | undefined) ?? '').split(',').filter(Boolean);
  const notAddress = owners.find((owner): boolean => !isAddress(owner));
  if (notAddress !== undefined)
    throw new ZkflError('VALIDATION_FAILED', `--owners: ${notAddress} is not an address`, 'owners');
  const circuit = (values.circuit as string | undefined) ?? defaultCoordinatorOptions.circuit;
  if (circuit !== 'default' && circuit !== 'test')
    throw new ZkflError('VALIDATION_FAILED', `--circuit: ${circuit} is not default or test`, 'circuit');
  const running = await startCoordinator({
    circuit,
    ...(chain ? { chain } : {}),
    ...(values.key ? { keyFile: values.key as string } : {}),
    ...(password(values) !== undefined ? { keyPassword: password(values) } : {}),
    ...(owners.length > 0 ? { owners } : {}),
    ...(publicUrls ? { publicUrls } : {}),
    ...(values['data-root'] ? { dataRoot: values['data-root'] as string } : {}),
    ...(values.database ? { database: values.database as string } : {}),
    ...(values.redis ? { redis: values.redis as string } : {}),
    ...(values['lease-seconds'] ? { leaseSeconds: integer(values, 'lease-seconds', 10, 1) } : {}),
    ...(values.limits ? limitsFrom(values.limits as string) : {}),
    host: (values.host as string | undefined) ?? defaultCoordinatorOptions.host,
    port: integer(values, 'port', defaultCoordinatorOptions.port, 0),
    dataDir: (values['data-dir'] as string | undefined) ?? defaultCoordinatorOptions.dataDir,
    maxPayloadBytes: integer(values, 'max-payload-mb', defaultCoordinatorOptions.maxPayloadBytes / 2 ** 20) * 2 ** 20,
    verifyTimeoutMs:
      integer(values, 'verify-timeout-seconds', defaultCoordinatorOptions.verifyTimeoutMs / 1000, 1) * 1000,
  });
  process.stdout.write(`listening ${running.url}\n`);
  process.stderr.write(
    `coordinator ${running.coordinator.identity.address}${chain ? ` settling on chain ${chain.deployment.chainId} (${chain.rpcUrl})` : ''}\n` +
      `dashboard ${running.url}/\n`,
  );
  const shutdown = (): void => void running.close().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
