import { type Signer, Wallet } from 'ethers';
import { OwnerSession } from '../../client/owner.js';
import { CoordinatorApi } from '../../protocol/api.js';
import type { RoundView, TaskView } from '../../protocol/rest.js';
import type { TaskSpecInput } from '../../protocol/task-spec.js';

/** Creates a task as `owner` (a new key unless given), signed in as any owner is. */
export async function createTask(
  url: string,
  spec: TaskSpecInput,
  owner: Signer = Wallet.createRandom(),
): Promise<TaskView> {
  return (await OwnerSession.open(url, owner)).createTask(spec);
}

export async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

export const getRounds = (url: string, taskId: string): Promise<RoundView[]> => new CoordinatorApi(url).rounds(taskId);

export async function getWeights(url: string, taskId: string, which: number | 'latest'): Promise<Float32Array> {
  const bytes = await new CoordinatorApi(url).weights(taskId, which);
  return new Float32Array(Uint8Array.from(bytes).buffer);
}

/**
 * How long a test waits for something real (a process, a chain, a round) before it calls it a hang: generous, so
 * that a busy machine is slow, not failing. Tests assert what happened, never how long it took.
 */
export const patienceSeconds = 600;

/** Polls `probe` until it returns a value; fails after `patienceSeconds`, naming `what` it waited for. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what = 'condition'): Promise<T> {
  const until = Date.now() + patienceSeconds * 1000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
