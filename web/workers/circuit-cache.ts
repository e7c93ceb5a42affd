/**
 * A task's proving artifacts in the browser: a copy kept in Cache Storage when it still checks out against the
 * task's verification-key hash (the same checks as a fresh download: circuits/served.ts), else fetched from the
 * coordinator, checked, and kept for the next round, task or visit.
 */
import {
  circuitProblem,
  fetchServedCircuit,
  type ServedCircuit,
  type ServedCircuitFile,
  servedCircuitFiles as files,
} from '../../circuits/served.js';
import { alignedBuffer, sha256Hex } from '../../common/bytes.js';
import type { CoordinatorApi } from '../../protocol/api.js';

const cacheName = 'zkfl-circuits';

/** Cache Storage needs a secure context (https, or the loopback address); without it nothing is kept. */
const openCache = (): Promise<Cache> | undefined => (globalThis.caches ? caches.open(cacheName) : undefined);

/** The key a file of the circuit whose verification key hashes to `keySha256` is kept under. */
const keyOf = (api: CoordinatorApi, name: string, file: ServedCircuitFile, keySha256: string): string =>
  `${api.base}/api/circuits/${name}/${file}?verificationKey=${keySha256}`;

async function cachedCopy(cache: Cache, api: CoordinatorApi, name: string, keySha256: string) {
  const bytes = await Promise.all(
    files.map(async (file) => {
      const response = await cache.match(keyOf(api, name, file, keySha256));
      return response && new Uint8Array(await response.arrayBuffer());
    }),
  );
  if (bytes.some((file) => file === undefined)) return undefined;
  const [manifest, verificationKey, zkey, wasm] = bytes as Uint8Array[];
  const circuit: ServedCircuit = {
    manifest: JSON.parse(new TextDecoder().decode(manifest)) as ServedCircuit['manifest'],
    verificationKey: verificationKey!,
    zkey: zkey!,
    wasm: wasm!,
  };
  const intact = sha256Hex(circuit.verificationKey) === keySha256 && !(await circuitProblem(name, circuit));
  return intact ? circuit : undefined;
}

/** Circuit `name` with the task's keys (`keySha256`), from the cache or the coordinator; `onFetch` before a download. */
export async function taskCircuit(
  api: CoordinatorApi,
  name: string,
  keySha256: string,
  onFetch: () => void,
): Promise<ServedCircuit> {
  const cache = await openCache();
  const cached = cache && (await cachedCopy(cache, api, name, keySha256));
  if (cached) return cached;
  onFetch();
  const fetched: Partial<Record<ServedCircuitFile, Uint8Array>> = {};
  const circuit = await fetchServedCircuit(name, keySha256, async (file) => {
    fetched[file] = await api.circuitFile(name, file);
    return fetched[file];
  });
  if (cache) await keep(cache, (file) => keyOf(api, name, file, keySha256), fetched);
  return circuit;
}

/** Keeps the fetched files; a browser that cannot (its storage full) still proves with them, and fetches again. */
async function keep(
  cache: Cache,
  key: (file: ServedCircuitFile) => string,
  fetched: Partial<Record<ServedCircuitFile, Uint8Array>>,
): Promise<void> {
  try {
    for (const file of files) await cache.put(key(file), new Response(alignedBuffer(fetched[file]!)));
  } catch {
    for (const file of files) await cache.delete(key(file)).catch(() => false);
  }
}
