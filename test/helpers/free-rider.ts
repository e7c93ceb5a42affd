/** One hand-driven client beside real honest ones, sending an update of the test's choosing in round 1. */
import type { RoundStartPayload } from '../../protocol/events.js';
import type { TaskView } from '../../protocol/rest.js';
import type { TaskSpecInput } from '../../protocol/task-spec.js';
import { Random } from '../../common/random.js';
import { runClients } from './clients.js';
import { provenUpdate, quantizedAsClient } from './contribution.js';
import { smallTask } from './fixtures.js';
import { connect, joinWithConsent, next, randomWallet, request } from './raw-client.js';

/** An update's quantized values and their per-chunk scales, as a client sends them. */
export interface SentValues {
  q: Int8Array;
  fractionBits: number[];
}

/** A small task of three clients a round (two honest, one free rider) with a pool to split, and `overrides`. */
export function freeRiderTask(overrides: Partial<TaskSpecInput>): TaskSpecInput {
  return smallTask({
    rounds: 1,
    clientsPerRound: { min: 3, target: 3 },
    roundDeadlineSeconds: 240,
    rewards: { perRound: String(10n ** 18n) },
    ...overrides,
  });
}

/**
 * Round 1 of `task`: honest clients train on `honest.shards` (keys `honest.keys`), and a fresh key sends
 * `update(address)`, proven like any. Resolves, once the honest clients are done, with that key's address.
 */
export async function sendBesideHonest(
  url: string,
  task: TaskView,
  honest: { shards: string[]; keys: string[] },
  update: (address: string) => SentValues | Promise<SentValues>,
): Promise<string> {
  const wallet = randomWallet();
  const socket = await connect(url, wallet);
  const started = next<RoundStartPayload>(socket, 'round:start');
  const joined = await joinWithConsent(socket, url, wallet, task.id);
  if (!joined.ok) throw new Error(`the free rider could not join: ${JSON.stringify(joined)}`);
  const honestDone = Promise.all(runClients(url, task.id, honest.shards, honest.keys));
  const { q, fractionBits } = await update(wallet.address);
  const statement = { taskId: task.id, round: 1, address: wallet.address, modelHash: (await started).modelHash };
  const reply = await request(socket, 'update', await provenUpdate(task, statement, q, undefined, fractionBits));
  if (!reply.ok) throw new Error(`the free rider's update was refused: ${JSON.stringify(reply)}`);
  await honestDone;
  socket.disconnect();
  return wallet.address;
}

/** A random unit direction in `size` dimensions, drawn from `seed`. */
export function gaussianDirection(size: number, seed: number): Float32Array {
  const random = new Random(seed);
  const values = Float32Array.from({ length: size }, () => random.normal());
  const length = Math.hypot(...values);
  return values.map((value) => value / length);
}

/**
 * `gaussianDirection(seed)` at `task`'s norm bound, quantized as `address`'s client would: what costs a free rider
 * nothing.
 */
export function noiseAtBound(task: TaskView, seed: number, address: string): SentValues {
  const direction = gaussianDirection(task.numParams, seed);
  return quantizedAsClient(
    task,
    direction.map((value) => value * task.spec.clipNorm),
    address,
    1,
  );
}
