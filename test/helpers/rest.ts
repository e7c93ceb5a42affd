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

/** Polls `probe` until it returns a value, or fails after `seconds`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, seconds = 60, what = 'condition'): Promise<T> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
