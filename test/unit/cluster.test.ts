/**
 * Requests between coordinator instances (coordinator/instances/cluster.ts) over an in-memory stand-in for socket.io's
 * server-side events, which reach every instance but the sender, as the Redis adapter's do.
 */
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { ClusterRequests, type InterServerEvents, NotHere, notHere } from '../../coordinator/instances/cluster.js';
import { ZkflError } from '../../common/errors.js';

/** Instances on one bus: each one's server-side events reach the others. */
function bus(count: number) {
  const servers = Array.from({ length: count }, () => new EventEmitter());
  return servers.map((self) => ({
    serverSideEmit<E extends keyof InterServerEvents>(event: E, ...args: Parameters<InterServerEvents[E]>): boolean {
      for (const server of servers) if (server !== self) setImmediate(() => server.emit(event, ...args));
      return true;
    },
    on<E extends keyof InterServerEvents>(event: E, listener: InterServerEvents[E]): unknown {
      return self.on(event, listener as (...args: unknown[]) => void);
    },
  }));
}

const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

describe('requests between coordinator instances', () => {
  const [a, b, c] = bus(3);
  const runsHere = new Set(['t-b']);
  const asked: string[] = [];
  const handler =
    (name: string) =>
    (kind: string, body: unknown): Promise<unknown> => {
      asked.push(name);
      const { taskId } = body as { taskId: string };
      if (name !== 'b' || !runsHere.has(taskId)) return Promise.reject(notHere);
      if (kind === 'update') return Promise.resolve({ receipt: `for ${taskId}` });
      return Promise.reject(new ZkflError('WRONG_ROUND', 'round 2 is aggregating'));
    };
  const fromA = new ClusterRequests(a!, 'a', handler('a'));
  new ClusterRequests(b!, 'b', handler('b'));
  new ClusterRequests(c!, 'c', handler('c'));
  const there = (): Promise<boolean> => Promise.resolve(true);

  beforeEach(() => (asked.length = 0));

  it('is answered by the instance it names, and only by it', async () => {
    expect(await fromA.request('b', 'update', { taskId: 't-b' }, there)).to.deep.equal({ receipt: 'for t-b' });
    expect(asked).to.deep.equal(['b']);
  });

  it("carries the running instance's coded refusal back", async () => {
    const error = await rejection(fromA.request('b', 'cancel', { taskId: 't-b' }, there));
    expect(error)
      .to.be.instanceOf(ZkflError)
      .and.to.include({ code: 'WRONG_ROUND', message: 'round 2 is aggregating' });
  });

  it('is told when the instance asked does not run the task (any more)', async () => {
    expect(await rejection(fromA.request('c', 'update', { taskId: 't-b' }, there))).to.be.instanceOf(NotHere);
  });

  it('gives up on an instance that went away without answering', async function () {
    this.timeout(5000);
    const error = await rejection(fromA.request('gone', 'update', { taskId: 't-b' }, () => Promise.resolve(false)));
    expect(error).to.be.instanceOf(NotHere);
    expect(asked).to.deep.equal([]);
  });
});
