/**
 * Generated input at the real boundaries (fast-check): REST bodies and paths, task specs, socket events and
 * payloads, client data files. Whatever arrives, the answer is a coded error or a success — never a 500, a crash or
 * a hang — and an honest client trains to the end meanwhile.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { OwnerSession } from '../../client/owner.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { loadDataset } from '../../ml/dataset.js';
import { errorStatus, isErrorCode, ZkflError } from '../../common/errors.js';
import type { TaskSpecInput } from '../../protocol/task-spec.js';
import { runClients } from '../helpers/clients.js';
import { connect, randomWallet, type RawSocket, request } from '../helpers/raw-client.js';
import { getJson } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { startTestCoordinator } from '../helpers/servers.js';

const features = 4;
const csv =
  'a,b,c,d,label\n' +
  Array.from({ length: 200 }, (_, i) => `${(i % 7) / 7},${(i % 3) / 3},${i % 2},0.5,${i % 2}`).join('\n') +
  '\n';

function tinyTask(overrides: Partial<TaskSpecInput> = {}): TaskSpecInput {
  return {
    model: { preset: 'mlp', hidden: [3] },
    inputShape: [features],
    classes: 2,
    rounds: 3,
    clientsPerRound: { min: 1, target: 1 },
    proofs: false,
    roundDeadlineSeconds: 60,
    evaluation: { path: 'eval.csv' },
    ...overrides,
  };
}

/** A status and body a coordinator may answer with: success, or a coded error with its status. */
function expectCoded(status: number, body: unknown, what: string): void {
  if (status < 400) return;
  const code = (body as { code?: unknown } | null)?.code;
  expect([what, isErrorCode(code) ? errorStatus[code] : code]).to.deep.equal([what, status]);
  expect([what, status]).to.not.deep.equal([what, 500]);
}

describe('fuzzed boundaries', function () {
  const dir = tempDir();
  const root = join(dir, 'root');
  let coordinator: RunningCoordinator;
  let owner: OwnerSession;
  let honest: ReturnType<typeof runClients>;

  before(async () => {
    mkdirSync(root);
    writeFileSync(join(root, 'eval.csv'), csv);
    coordinator = await startTestCoordinator({
      port: 0,
      dataDir: join(dir, 'coordinator'),
      dataRoot: root,
      limits: { params: 10_000, rounds: 20, tasksPerOwner: 1000 },
      // Thousands of generated requests from one address: the rates are not what is under test here.
      rateLimits: { noncesPerMinute: 1e6, signInsPerMinute: 1e6, createsPerHour: 1e6, eventsPerMinute: 1e6 },
    });
    owner = await OwnerSession.open(coordinator.url, randomWallet());
    // An honest client trains a task from start to end while everything below is thrown at the coordinator.
    const task = await owner.createTask(tinyTask());
    honest = runClients(coordinator.url, task.id, [join(root, 'eval.csv')], [join(dir, 'honest.json')]);
  });
  after(() => coordinator.close());

  async function send(method: string, path: string, body?: string, token?: string): Promise<[number, unknown]> {
    const response = await fetch(`${coordinator.url}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // A non-JSON answer (a model's weights) is fine for a success; expectCoded checks errors.
    }
    return [response.status, parsed];
  }

  it('answers any REST body and path with success or a coded error', async () => {
    const routes = ['/api/tasks', '/api/auth/session', '/api/uploads'];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.oneof(
          fc.json(),
          fc.string(),
          fc.jsonValue().map((value) => JSON.stringify(value)),
        ),
        async (route, body) => {
          const [status, answer] = await send('POST', route, body, owner.session.token);
          expectCoded(status, answer, `${route} ${body.slice(0, 80)}`);
        },
      ),
      { numRuns: 150 },
    );
    await fc.assert(
      fc.asyncProperty(fc.webPath(), fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), async (path, method) => {
        const [status, answer] = await send(method, `/api${path}`);
        expectCoded(status, answer, `${method} ${path}`);
      }),
      { numRuns: 150 },
    );
  });

  it('answers any task spec, near-valid or not, with a task or a coded error', async () => {
    const valid = tinyTask() as Record<string, unknown>;
    const mutation = fc.record({
      field: fc.constantFrom(...Object.keys(valid), 'model.hidden', 'clientsPerRound.min', 'extra'),
      value: fc.oneof(fc.jsonValue(), fc.integer(), fc.double(), fc.array(fc.integer({ min: -5, max: 5000 }))),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (mutations) => {
        const spec = structuredClone(valid);
        for (const { field, value } of mutations) {
          const [head, tail] = field.split('.');
          if (tail === undefined) spec[head!] = value;
          else spec[head!] = { ...(spec[head!] as object), [tail]: value };
        }
        const [status, answer] = await send('POST', '/api/tasks', JSON.stringify(spec), owner.session.token);
        expectCoded(status, answer, JSON.stringify(mutations));
      }),
      { numRuns: 120 },
    );
  });

  it('answers any socket event and payload, and drops only the connections that keep sending garbage', async () => {
    let socket: RawSocket = await connect(coordinator.url, randomWallet());
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('join', 'update', 'leave', 'hello', '__proto__'),
        fc.oneof(
          fc.anything(),
          fc.record({ taskId: fc.string(), consent: fc.anything() }),
          fc.record({ taskId: fc.string(), round: fc.integer(), q: fc.uint8Array({ maxLength: 64 }) }),
        ),
        async (event, payload) => {
          if (!socket.connected) socket = await connect(coordinator.url, randomWallet());
          const reply = await request(socket, event, payload).catch((error: Error) => error);
          // A connection dropped for sending too much garbage does not answer: that is the limit at work. The
          // dropped socket fails its pending request at once; a request that timed out was never answered.
          if (reply instanceof Error) {
            expect([reply.message, socket.connected]).to.deep.equal(['socket has been disconnected', false]);
          } else {
            if (!reply.ok) expect(reply.error.code).to.satisfy(isErrorCode).and.not.equal('INTERNAL');
          }
        },
      ),
      { numRuns: 200 },
    );
    socket.disconnect();
  });

  it('loads any client data file or refuses it with DATA_MISSING or DATA_MALFORMED', () => {
    const files = join(dir, 'files');
    mkdirSync(files);
    let index = 0;
    const cell = fc.oneof(
      fc.integer({ min: -3, max: 300 }).map(String),
      fc.double().map(String),
      fc.string({ maxLength: 4 }),
    );
    const csvText = fc
      .array(fc.array(cell, { minLength: 1, maxLength: 6 }), { maxLength: 12 })
      .map((rows) => rows.map((row) => row.join(',')).join('\n'));
    const idx = fc
      .tuple(fc.uint8Array({ maxLength: 24 }), fc.uint8Array({ maxLength: 64 }))
      .map(([header, body]) =>
        Buffer.concat([Buffer.from([0, 0, 8, header[0] ?? 1]), Buffer.from(header), Buffer.from(body)]),
      );
    fc.assert(
      fc.property(
        fc.oneof(
          csvText.map((text): [string, Buffer] => ['data.csv', Buffer.from(text)]),
          csvText.map((text): [string, Buffer] => ['data.csv.gz', gzipSync(text)]),
          fc.uint8Array({ maxLength: 200 }).map((bytes): [string, Buffer] => ['data.csv.gz', Buffer.from(bytes)]),
          fc.tuple(idx, idx).map(([images, labels]): [string, Buffer, Buffer] => ['data', images, labels]),
        ),
        ([name, first, second]) => {
          const at = join(files, String(index++));
          mkdirSync(at);
          if (second === undefined) writeFileSync(join(at, name), first);
          else {
            writeFileSync(join(at, `${name}-images-idx3-ubyte`), first);
            writeFileSync(join(at, `${name}-labels-idx1-ubyte`), second);
          }
          try {
            const dataset = loadDataset(join(at, name));
            expect(dataset.labels.length).to.equal(dataset.count);
          } catch (error) {
            expect(error).to.be.instanceOf(ZkflError);
            expect(['DATA_MISSING', 'DATA_MALFORMED']).to.include((error as ZkflError).code);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('kept serving the honest client: it trained every round', async () => {
    const [result] = await Promise.all(honest);
    expect([result!.status, result!.roundsContributed]).to.deep.equal(['completed', 3]);
    expect(await getJson<{ ok: boolean }>(`${coordinator.url}/api/health`)).to.deep.equal({ ok: true });
  });
});
