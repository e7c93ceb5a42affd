/** Real training clients for integration tests. */
import { type ClientOptions, type ClientResult, runClient } from '../../client/client.js';
import { acceptTerms } from './raw-client.js';

/**
 * One client per data shard, each with its own key file, all agreeing to the task's terms. A test that fails before
 * it awaits them leaves no unhandled rejection behind.
 */
export function runClients(
  coordinatorUrl: string,
  taskId: string,
  shards: string[],
  keyPaths: string[],
  options: Partial<ClientOptions> = {},
): Array<Promise<ClientResult>> {
  return shards.map((dataPath, i) => {
    const running = runClient({ ...acceptTerms, coordinatorUrl, taskId, dataPath, keyPath: keyPaths[i]!, ...options });
    running.catch(() => undefined);
    return running;
  });
}
