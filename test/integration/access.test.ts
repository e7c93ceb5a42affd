/**
 * Who may do what on a coordinator: owners sign in to create tasks, requests name no server paths, tasks are
 * bounded before anything is allocated, and rates and connections are limited. Every refusal has its code.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { type ClientRequest, request as httpRequest } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import Database from 'better-sqlite3';
import { OwnerSession } from '../../client/owner.js';
import { CoordinatorApi } from '../../protocol/api.js';
import { loadWallet, saveWallet } from '../../common/identity.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import type { CoordinatorOptions } from '../../coordinator/options.js';
import type { ErrorBody } from '../../common/errors.js';
import type { TaskView } from '../../protocol/rest.js';
import { signIn } from '../../protocol/sign-in.js';
import type { TaskSpecInput } from '../../protocol/task-spec.js';
import { io } from 'socket.io-client';
import { connect, freshNonce, next, randomWallet, request, signedIn } from '../helpers/raw-client.js';
import { stopAfter } from '../helpers/cleanup.js';
import { runZkfl as zkfl, spawnCoordinator } from '../helpers/processes.js';
import { runClients } from '../helpers/clients.js';
import { eventually, getJson, getRounds } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { startTestCoordinator } from '../helpers/servers.js';
import { writeBombs } from '../helpers/bombs.js';
import { LARGE_TASK_ID, writeLargeTask } from '../helpers/large-audit.js';

/** A task that needs no circuit and trains on 4 features. */
function tinyTask(overrides: Partial<TaskSpecInput> = {}): TaskSpecInput {
  return {
    model: { preset: 'mlp', hidden: [] },
    inputShape: [4],
    classes: 2,
    rounds: 1,
    clientsPerRound: { min: 1, target: 1 },
    proofs: false,
    evaluation: { path: 'eval.csv' },
    ...overrides,
  };
}

const csv = 'a,b,c,d,label\n' + Array.from({ length: 20 }, (_, i) => `${i},1,2,3,${i % 2}`).join('\n') + '\n';

describe('access: owners, paths, limits and rates', function () {
  const dir = tempDir();
  const root = join(dir, 'root');
  const outside = join(dir, 'outside');
  const running: RunningCoordinator[] = [];

  before(() => {
    mkdirSync(root);
    mkdirSync(outside);
    writeFileSync(join(root, 'eval.csv'), csv);
    // A named pipe blocks whoever opens it: a request that made the coordinator open it would hang.
    execFileSync('mkfifo', [join(outside, 'pipe.csv')]);
    writeFileSync(join(outside, 'secret.csv'), 'secret-token,1\n');
    symlinkSync(join(outside, 'pipe.csv'), join(root, 'link.csv'));
    symlinkSync(outside, join(root, 'escape'));
  });
  after(() => Promise.all(running.map((coordinator) => coordinator.close())));

  async function coordinator(options: Partial<CoordinatorOptions> = {}): Promise<RunningCoordinator> {
    const started = await startTestCoordinator({
      port: 0,
      dataDir: join(dir, `coordinator-${running.length}`),
      dataRoot: root,
      ...options,
    });
    running.push(started);
    return started;
  }

  async function post(url: string, path: string, body: unknown, token?: string): Promise<[number, ErrorBody]> {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return [response.status, (await response.json()) as ErrorBody];
  }

  /** A POST from another loopback address (127.0.0.2 and up reach the coordinator as other clients would). */
  /** POSTs `body` as JSON from the loopback address `ip`; answers the status and the JSON body. */
  function postFrom(
    ip: string,
    url: string,
    path: string,
    body: unknown,
  ): Promise<{ status: number; body: ErrorBody }> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(
        `${url}${path}`,
        // A connection of its own, closed after the answer: none is left open to count against `ip`.
        { method: 'POST', localAddress: ip, agent: false, headers: { 'content-type': 'application/json' } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.once('end', () =>
            resolve({
              status: response.statusCode!,
              body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as ErrorBody,
            }),
          );
        },
      );
      request.on('error', reject);
      request.end(JSON.stringify(body));
    });
  }

  /** A GET from `ip` on a connection of its own: its status, Retry-After and error code (the body read, not kept). */
  function getFrom(
    ip: string,
    url: string,
    path: string,
  ): Promise<{ status: number; retryAfter?: string; code?: string }> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(`${url}${path}`, { localAddress: ip, agent: false }, (response) => {
        let head = '';
        response.on('data', (chunk: Buffer) => (head = head || chunk.toString()));
        response.once('end', () => {
          const { statusCode: status, headers } = response;
          const code = status === 200 ? undefined : (JSON.parse(head) as ErrorBody).code;
          resolve({ status: status!, ...(headers['retry-after'] ? { retryAfter: headers['retry-after'] } : {}), code });
        });
      });
      request.on('error', reject);
      request.end();
    });
  }

  const codeOf = (error: unknown): [string, string | undefined] => [
    (error as ErrorBody).code,
    (error as ErrorBody).field,
  ];

  describe('owner sign-in', () => {
    it('refuses task creation without a session, with an unknown one, and a sign-in made for another host', async () => {
      const { url } = await coordinator();
      expect((await post(url, '/api/tasks', tinyTask()))[1].code).to.equal('AUTH_FAILED');
      const [status, body] = await post(url, '/api/tasks', tinyTask(), 'f'.repeat(32));
      expect([status, body.code, body.message]).to.deep.equal([
        401,
        'AUTH_FAILED',
        'unknown or expired session: sign in again',
      ]);

      const elsewhere = await signIn(randomWallet(), 'http://coordinator.example', await freshNonce(url));
      const refused = await post(url, '/api/auth/session', elsewhere);
      expect([refused[0], refused[1].code]).to.deep.equal([401, 'AUTH_FAILED']);
      const forged = await signedIn(url, randomWallet());
      forged.signature = await randomWallet().signMessage(forged.message);
      expect((await post(url, '/api/auth/session', forged))[0]).to.equal(401);
      expect(await getJson<TaskView[]>(`${url}/api/tasks`)).to.deep.equal([]);
    });

    it('records the signed-in owner, and refuses a spec naming another', async () => {
      const { url } = await coordinator();
      const wallet = randomWallet();
      const owner = await OwnerSession.open(url, wallet);
      const task = await owner.createTask(tinyTask());
      expect(task.spec.owner).to.equal(wallet.address);
      const other = await owner.createTask(tinyTask({ owner: randomWallet().address })).catch(codeOf);
      expect(other).to.deep.equal(['FORBIDDEN', 'owner']);
    });

    it('lets only the owner cancel a task; its clients end with it', async () => {
      const { url } = await coordinator();
      const wallet = randomWallet();
      const owner = await OwnerSession.open(url, wallet);
      // Two clients needed, one comes: the round waits until the owner cancels.
      const task = await owner.createTask(tinyTask({ rounds: 5, clientsPerRound: { min: 2, target: 2 } }));
      const [client] = runClients(url, task.id, [join(root, 'eval.csv')], [join(dir, 'cancelled-client.json')]);
      await eventually(async () => ((await getRounds(url, task.id))[0]?.phase === 'training' ? true : undefined));
      const stranger = await OwnerSession.open(url, randomWallet());
      expect(await stranger.cancelTask(task.id).catch(codeOf)).to.deep.equal(['FORBIDDEN', undefined]);
      expect((await post(url, `/api/tasks/${task.id}/cancel`, {}))[1].code).to.equal('AUTH_FAILED');
      expect((await owner.cancelTask(task.id)).status).to.equal('cancelled');
      expect(await owner.cancelTask(task.id).catch(codeOf)).to.deep.equal(['TASK_NOT_RUNNING', undefined]);
      expect(await client).to.deep.include({ status: 'cancelled', roundsContributed: 0 });
    });

    it('takes tasks only from the --owners it names', async () => {
      const allowed = randomWallet();
      const { url } = await coordinator({ owners: [allowed.address.toLowerCase()] });
      const stranger = await OwnerSession.open(url, randomWallet());
      expect(await stranger.createTask(tinyTask()).catch(codeOf)).to.deep.equal(['FORBIDDEN', undefined]);
      expect(await stranger.upload(join(root, 'eval.csv')).catch(codeOf)).to.deep.equal(['FORBIDDEN', undefined]);
      const task = await (await OwnerSession.open(url, allowed)).createTask(tinyTask());
      expect(task.spec.owner).to.equal(allowed.address);
    });
  });

  describe('evaluation data', () => {
    it('opens nothing outside the data root, and names nothing of it in errors', async () => {
      const { url } = await coordinator();
      const owner = await OwnerSession.open(url, randomWallet());
      const names = [
        join(outside, 'secret.csv'),
        '/etc/passwd',
        '../outside/secret.csv',
        'escape/../../outside/pipe.csv',
        'link.csv',
        'escape/pipe.csv',
        'escape/secret.csv',
      ];
      for (const path of names) {
        const error = (await owner
          .createTask(tinyTask({ evaluation: { path } }))
          .catch((e: unknown) => e)) as ErrorBody;
        expect([path, error.code, (error as { field?: string }).field]).to.deep.equal([
          path,
          'VALIDATION_FAILED',
          'evaluation.path',
        ]);
        expect(error.message).to.not.match(/secret-token|root:/);
        expect(error.message).to.not.include(root);
      }
      const missing = (await owner
        .createTask(tinyTask({ evaluation: { path: 'nothing.csv' } }))
        .catch((e: unknown) => e)) as ErrorBody;
      expect(missing.message).to.match(/^cannot read nothing\.csv/);
      expect(await getJson<TaskView[]>(`${url}/api/tasks`)).to.deep.equal([]);
    });

    it('still resumes a task from before data roots, which names its set by absolute path', async () => {
      const dataDir = join(dir, 'legacy');
      const first = await startTestCoordinator({ port: 0, dataDir, dataRoot: root });
      const task = await (await OwnerSession.open(first.url, randomWallet())).createTask(tinyTask({ rounds: 3 }));
      await first.close();
      // What an older coordinator stored: the absolute path the owner gave.
      const db = new Database(join(dataDir, 'coordinator.sqlite'));
      db.prepare(`UPDATE tasks SET spec = json_set(spec, '$.evaluation.path', ?) WHERE id = ?`).run(
        join(root, 'eval.csv'),
        task.id,
      );
      db.close();
      const second = await coordinator({ dataDir, dataRoot: undefined });
      expect((await new CoordinatorApi(second.url).task(task.id)).status).to.equal('running');
    });

    it('without a data root takes uploads only: content-addressed, checked, bounded', async () => {
      const { url } = await coordinator({ dataRoot: undefined, limits: { evaluationBytes: 4096 } });
      const owner = await OwnerSession.open(url, randomWallet());
      const named = await owner.createTask(tinyTask()).catch(codeOf);
      expect(named).to.deep.equal(['VALIDATION_FAILED', 'evaluation.path']);

      const upload = await owner.upload(join(root, 'eval.csv'));
      expect(upload).to.deep.include({ count: 20, exampleShape: [4], bytes: csv.length });
      expect((await owner.upload(join(root, 'eval.csv'))).upload).to.equal(upload.upload);
      const task = await owner.createTask(tinyTask({ evaluation: { upload: upload.upload, limit: 10 } }));
      expect(task.spec.evaluation).to.deep.equal({ upload: upload.upload, limit: 10 });
      expect(await owner.createTask(tinyTask({ evaluation: { upload: 'a'.repeat(64) } })).catch(codeOf)).to.deep.equal([
        'VALIDATION_FAILED',
        'evaluation.upload',
      ]);

      const token = owner.session.token;
      const secret = Buffer.from('secret-token,x\nmore,1\n').toString('base64');
      const [status, body] = await post(url, '/api/uploads', { files: { 'data.csv': secret } }, token);
      expect([status, body.code, body.field]).to.deep.equal([422, 'DATA_MALFORMED', 'files']);
      expect(body.message).to.not.match(/secret-token|staging|\/tmp/);
      const traversal = await post(url, '/api/uploads', { files: { '../x.csv': secret } }, token);
      expect([traversal[0], traversal[1].code]).to.deep.equal([400, 'VALIDATION_FAILED']);
      const big = Buffer.alloc(5000, '1,').toString('base64');
      const tooBig = await post(url, '/api/uploads', { files: { 'big.csv': big } }, token);
      expect([tooBig[0], tooBig[1].code]).to.deep.equal([422, 'LIMIT_EXCEEDED']);
      const uploads = readdirSync(join(dir, `coordinator-${running.length - 1}`, 'uploads'));
      expect(uploads).to.deep.equal([upload.upload]);
    });
    it('refuses bombs of each format by what they hold, while it keeps answering others', async () => {
      const { url } = await coordinator({ dataRoot: undefined });
      const owner = await OwnerSession.open(url, randomWallet());
      const bombs = writeBombs(join(dir, 'bombs'));
      for (const [bomb, code] of [
        [bombs.csv, 'LIMIT_EXCEEDED'],
        [bombs.idx, 'LIMIT_EXCEEDED'],
      ] as const) {
        const order: string[] = [];
        const refused = owner.upload(bomb).then(
          () => order.push('uploaded'),
          (error: ErrorBody) => order.push(`${error.code} ${error.field}`),
        );
        // Sent after the bomb, answered before its refusal: the coordinator parses it elsewhere.
        await getJson(`${url}/api/health`).then(() => order.push('health'));
        await refused;
        expect(order).to.deep.equal(['health', `${code} files`]);
      }
      expect(readdirSync(join(dir, `coordinator-${running.length - 1}`, 'uploads'))).to.deep.equal([]);
    });

    /** A CSV of its own under the data root (each `seed` different content, so a different upload). */
    function evaluationFile(seed: number): string {
      const path = join(root, `eval-${seed}.csv`);
      writeFileSync(path, csv.replace('0,1,2,3', `${seed},1,2,3`));
      return path;
    }

    it("lets no owner's task use another owner's upload, and answers it as one that does not exist", async () => {
      const { url } = await coordinator({ dataRoot: undefined });
      const [alice, mallory] = [
        await OwnerSession.open(url, randomWallet()),
        await OwnerSession.open(url, randomWallet()),
      ];
      const upload = await alice.upload(evaluationFile(1));
      const stolen = await mallory.createTask(tinyTask({ evaluation: { upload: upload.upload, limit: 1 } })).then(
        () => expect.fail('created'),
        (error: ErrorBody) => error,
      );
      const missing = await mallory.createTask(tinyTask({ evaluation: { upload: 'b'.repeat(64) } })).then(
        () => expect.fail('created'),
        (error: ErrorBody) => error,
      );
      expect([stolen.code, stolen.field]).to.deep.equal(['VALIDATION_FAILED', 'evaluation.upload']);
      expect(stolen.message.replace(upload.upload, 'ID')).to.equal(missing.message.replace('b'.repeat(64), 'ID'));
      // Holding the same files is owning them: Mallory uploads them herself, and her task may use them.
      expect((await mallory.upload(evaluationFile(1))).upload).to.equal(upload.upload);
      await mallory.createTask(tinyTask({ evaluation: { upload: upload.upload } }));
    });

    it("holds each owner's uploads to a quota that the same upload twice does not fill", async () => {
      const size = csv.length;
      const { url } = await coordinator({ dataRoot: undefined, limits: { uploadBytesPerOwner: 2 * size } });
      const [owner, neighbour] = [
        await OwnerSession.open(url, randomWallet()),
        await OwnerSession.open(url, randomWallet()),
      ];
      await owner.upload(evaluationFile(2));
      await owner.upload(evaluationFile(2));
      await owner.upload(evaluationFile(3));
      expect(await owner.upload(evaluationFile(4)).catch(codeOf)).to.deep.equal(['LIMIT_EXCEEDED', 'files']);
      await neighbour.upload(evaluationFile(4));
    });

    it('forgets uploads no running task uses once they expire, and keeps a public audit whole without them', async () => {
      const dataDir = join(dir, 'expiring');
      const first = await coordinator({ dataDir, dataRoot: undefined });
      const wallet = randomWallet();
      const owner = await OwnerSession.open(first.url, wallet);
      const used = await owner.upload(evaluationFile(5));
      const task = await owner.createTask(
        tinyTask({ rounds: 2, publicAudit: true, evaluation: { upload: used.upload } }),
      );
      const audited = await owner.createTask(tinyTask({ publicAudit: true, evaluation: { upload: used.upload } }));
      await first.close();
      // The same coordinator again, with uploads that expire after a second.
      const { url } = await coordinator({ dataDir, dataRoot: undefined, limits: { uploadTtlSeconds: 1 } });
      const again = await OwnerSession.open(url, wallet);
      const unused = await again.upload(evaluationFile(6));
      const uploads = join(dataDir, 'uploads');
      const listed = (names: string[]) => () =>
        Promise.resolve(readdirSync(uploads).join() === names.join() ? true : undefined);
      await eventually(listed([used.upload]), 'the unused upload to expire');
      expect(await again.createTask(tinyTask({ evaluation: { upload: unused.upload } })).catch(codeOf)).to.deep.equal([
        'VALIDATION_FAILED',
        'evaluation.upload',
      ]);
      const before = (await new CoordinatorApi(url).audit(audited.id)).scoringSet;
      await again.cancelTask(task.id);
      await again.cancelTask(audited.id);
      await eventually(listed([]), "the ended tasks' upload to expire");
      expect((await new CoordinatorApi(url).audit(audited.id)).scoringSet)
        .to.deep.equal(before)
        .and.to.not.equal(undefined);
    });
  });

  describe('bounded tasks', () => {
    it('refuses each spec over a limit with LIMIT_EXCEEDED before allocating anything', async () => {
      const started = await coordinator({
        limits: {
          activationsPerExample: 50_000,
          params: 100_000,
          rounds: 10,
          clientsPerRound: 5,
          modelJsonBytes: 2000,
          layerTypes: ['Dense', 'Flatten'],
        },
      });
      const owner = await OwnerSession.open(started.url, randomWallet());
      const refusals: Array<[TaskSpecInput, string]> = [
        // The anonymous request of the issue: 415,920,010 parameters, refused without building it.
        [tinyTask({ model: { preset: 'mlp', hidden: [20000, 20000] }, inputShape: [784] }), 'model'],
        [tinyTask({ rounds: 11 }), 'rounds'],
        // 4 parameters in all, but 60,000 values out of one layer for every example.
        [tinyTask({ model: { preset: 'mlp', hidden: [60_000] }, inputShape: [1], classes: 2 }), 'model'],
        [tinyTask({ clientsPerRound: { min: 1, target: 6 } }), 'clientsPerRound.target'],
        [tinyTask({ model: { preset: 'cnn' }, inputShape: [28, 28, 1] }), 'model'],
        [
          tinyTask({
            model: {
              topology: {
                class_name: 'Sequential',
                config: { layers: [{ class_name: 'Dense', config: { units: 2, padding: 'x'.repeat(3000) } }] },
              },
            },
          }),
          'model',
        ],
      ];
      for (const [spec, field] of refusals) {
        expect(await owner.createTask(spec).catch(codeOf)).to.deep.equal(['LIMIT_EXCEEDED', field]);
      }
      expect(await getJson<TaskView[]>(`${started.url}/api/tasks`)).to.deep.equal([]);
      expect(
        readdirSync(join(dir, `coordinator-${running.length - 1}`)).filter((name) => name.startsWith('t-')),
      ).to.deep.equal([]);
    });

    it('holds each owner to its running tasks', async () => {
      const { url } = await coordinator({ limits: { tasksPerOwner: 1 } });
      const owner = await OwnerSession.open(url, randomWallet());
      await owner.createTask(tinyTask());
      expect(await owner.createTask(tinyTask()).catch(codeOf)).to.deep.equal(['LIMIT_EXCEEDED', 'owner']);
      await (await OwnerSession.open(url, randomWallet())).createTask(tinyTask());
    });
  });

  describe('rates and connections', () => {
    it('answers 429 with Retry-After past the nonce, sign-in and creation rates', async () => {
      const { url } = await coordinator({ rateLimits: { noncesPerMinute: 4, createsPerHour: 2 } });
      const owner = await OwnerSession.open(url, randomWallet()); // nonce 1
      await owner.createTask(tinyTask());
      await owner.createTask(tinyTask({ rounds: 2 }));
      const [status, body] = await post(url, '/api/tasks', tinyTask(), owner.session.token);
      expect([status, body.code]).to.deep.equal([429, 'RATE_LIMITED']);
      for (let i = 2; i <= 4; i++) expect((await fetch(`${url}/api/auth/nonce`)).status).to.equal(200);
      const refused = await fetch(`${url}/api/auth/nonce`);
      expect(refused.status).to.equal(429);
      expect(Number(refused.headers.get('retry-after'))).to.be.within(1, 60);
    });

    it('answers RATE_LIMITED past the sign-in rate, on sockets as on REST', async () => {
      const { url } = await coordinator({ rateLimits: { signInsPerMinute: 2 } });
      const wallet = randomWallet();
      (await connect(url, wallet)).disconnect();
      await OwnerSession.open(url, wallet);
      const refused = await connect(url, wallet).catch((error: { data: ErrorBody }) => error.data);
      expect((refused as ErrorBody).code).to.equal('RATE_LIMITED');
      expect(await OwnerSession.open(url, wallet).catch(codeOf)).to.deep.equal(['RATE_LIMITED', undefined]);
    });

    it('disconnects a socket after a burst of malformed events, and keeps serving the others', async () => {
      const { url } = await coordinator({ rateLimits: { malformedEvents: 5 } });
      const honest = await connect(url, randomWallet());
      const noisy = await connect(url, randomWallet());
      const disconnected = next<string>(noisy, 'disconnect');
      for (let i = 0; i < 4; i++) {
        const reply = await request(noisy, 'join', { taskId: 42 });
        expect(reply.ok ? 'ok' : reply.error.code).to.equal('VALIDATION_FAILED');
      }
      noisy.emit('no-such-event', 'x');
      expect(await disconnected).to.equal('io server disconnect');
      const reply = await request(honest, 'join', { taskId: 'no-such-task' });
      expect(reply.ok ? 'ok' : reply.error.code).to.equal('NOT_FOUND');
    });

    it('refuses connections past the limit per IP address before reading their sign-in', async () => {
      const { url } = await coordinator({ rateLimits: { connectionsPerIp: 2 } });
      const first = await connect(url, randomWallet());
      await connect(url, randomWallet());
      // Refused at the raw connection: its sign-in is never read, so its nonce is still good once a place is free.
      const wallet = randomWallet();
      const signed = await signedIn(url, wallet);
      const refused = await connect(url, wallet, signed).then(
        () => 'connected',
        (error: Error) => error.message,
      );
      expect(refused).to.equal('websocket error');
      first.disconnect();
      const again = await eventually(() => connect(url, wallet, signed).catch(() => undefined), 'a free place');
      again.disconnect();
    });

    it('answers RATE_LIMITED to HTTP connections past the limit per IP address before reading them', async () => {
      const { url } = await coordinator({ rateLimits: { httpConnectionsPerIp: 2 } });
      const { hostname, port } = new URL(url);
      // The limited address is 127.0.0.5; the helpers' requests (nonces) come from 127.0.0.1.
      const limited = '127.0.0.5';
      const [signed, signedElsewhere] = await Promise.all(
        [randomWallet(), randomWallet()].map((each) => signedIn(url, each)),
      );
      // A socket's connection leaves the HTTP count once upgraded: it takes neither of the two places.
      // engine.io passes localAddress on to its websocket, though its types do not name it.
      const options = { transports: ['websocket'], auth: await signedIn(url, randomWallet()), localAddress: limited };
      const socket = io(url, options as Parameters<typeof io>[1]);
      stopAfter('test', () => socket.disconnect());
      await new Promise((resolve) => socket.once('connect', () => resolve(undefined)));
      // Two connections that never finish their request hold the two places.
      const held = await Promise.all(
        [0, 1].map(async () => {
          const raw = connectTcp({ port: Number(port), host: hostname, localAddress: limited });
          stopAfter('test', () => raw.destroy());
          await once(raw, 'connect');
          raw.write('GET /api/tasks HTTP/1.1\r\nHost: x\r\n');
          return raw;
        }),
      );
      const refused = await postFrom(limited, url, '/api/auth/session', signed);
      expect([refused.status, refused.body.code]).to.deep.equal([429, 'RATE_LIMITED']);
      expect(held.map((raw) => [raw.bytesRead, raw.destroyed])).to.deep.equal([
        [0, false],
        [0, false],
      ]);
      expect((await postFrom('127.0.0.2', url, '/api/auth/session', signedElsewhere)).status).to.equal(201);
      held[0]!.destroy();
      // The refused sign-in was never read: its nonce is still good once a place is free.
      const again = await eventually(
        () => postFrom(limited, url, '/api/auth/session', signed).then((answer) => answer.status === 201 || undefined),
        'a free place',
      );
      expect(again).to.equal(true);
    });

    it('sends an address no more audit bundles at once than its places: a reader that stalls holds its place until it leaves', async () => {
      const dataDir = join(dir, 'large-audit');
      // 32 MiB of records: more than the connection's buffers take from a reader that reads nothing.
      await writeLargeTask(dataDir, 8);
      const { url } = await coordinator({ dataDir, rateLimits: { auditStreamsPerIp: 1 } });
      const path = `/api/audit/tasks/${LARGE_TASK_ID}`;
      const limited = '127.0.0.5';
      // A reader that takes the first bytes and nothing more holds the address's one place.
      const stalled = await new Promise<ClientRequest>((resolve) => {
        const call = httpRequest(`${url}${path}`, { localAddress: limited, agent: false }, (response) => {
          response.once('data', () => {
            response.pause();
            resolve(call);
          });
        });
        call.on('error', () => undefined).end();
      });
      stopAfter('test', () => stalled.destroy());
      const refused = await getFrom(limited, url, path);
      expect([refused.status, refused.retryAfter, refused.code]).to.deep.equal([429, '5', 'RATE_LIMITED']);
      // Another address has a place of its own.
      expect((await getFrom('127.0.0.6', url, path)).status).to.equal(200);
      stalled.destroy();
      const again = await eventually(
        () => getFrom(limited, url, path).then((answer) => answer.status === 200 || undefined),
        'a free place',
      );
      expect(again).to.equal(true);
    });

    it('counts sign-ins per IP address and, across addresses, per signed-in address', async () => {
      const { url } = await coordinator({ rateLimits: { signInsPerMinute: 2 } });
      // One IP, three addresses: the third sign-in from the IP is refused.
      await OwnerSession.open(url, randomWallet());
      await OwnerSession.open(url, randomWallet());
      expect(await OwnerSession.open(url, randomWallet()).catch(codeOf)).to.deep.equal(['RATE_LIMITED', undefined]);
      // One address from three IPs (loopback has them all), once each: the address's third is refused.
      const wallet = randomWallet();
      const statuses = [];
      for (const ip of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
        statuses.push((await postFrom(ip, url, '/api/auth/session', await signedIn(url, wallet))).status);
      }
      expect(statuses).to.deep.equal([201, 201, 429]);
    });

    it('answers RATE_LIMITED past the events a connection may send in a minute', async () => {
      const { url } = await coordinator({ rateLimits: { eventsPerMinute: 3 } });
      const socket = await connect(url, randomWallet());
      const codes = [];
      for (let i = 0; i < 4; i++) {
        const reply = await request(socket, 'join', { taskId: 'no-such-task' });
        codes.push(reply.ok ? 'ok' : reply.error.code);
      }
      expect(codes).to.deep.equal(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'RATE_LIMITED']);
    });

    it('counts uploads with task creations, per owner and per IP address', async () => {
      const { url } = await coordinator({ rateLimits: { createsPerHour: 2 } });
      const owner = await OwnerSession.open(url, randomWallet());
      await owner.upload(join(root, 'eval.csv'));
      await owner.upload(join(root, 'eval.csv'));
      expect(await owner.upload(join(root, 'eval.csv')).catch(codeOf)).to.deep.equal(['RATE_LIMITED', undefined]);
      const neighbour = await OwnerSession.open(url, randomWallet());
      expect(await neighbour.upload(join(root, 'eval.csv')).catch(codeOf)).to.deep.equal(['RATE_LIMITED', undefined]);
    });

    it('refuses a sign-in whose nonce expired', async () => {
      const { url } = await coordinator({ nonceTtlSeconds: 1 });
      const nonce = await freshNonce(url);
      const signed = await signIn(randomWallet(), url, nonce);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, nonce.expiresAt - Date.now()) + 50));
      const [status, body] = await post(url, '/api/auth/session', signed);
      expect([status, body.code, body.message]).to.deep.equal([
        401,
        'AUTH_FAILED',
        'unknown, used or expired nonce: fetch a new one from GET /api/auth/nonce',
      ]);
    });

    it('takes its limits from zkfl coordinator --limits FILE, and refuses a file that is not one', async () => {
      const limits = join(dir, 'limits.json');
      writeFileSync(limits, JSON.stringify({ task: { rounds: 2 }, rate: { createsPerHour: 5 } }));
      const spawned = await spawnCoordinator(join(dir, 'limited'), 0, ['--limits', limits]);
      const owner = await OwnerSession.open(spawned.url, randomWallet());
      expect(
        await owner.createTask(tinyTask({ rounds: 3, evaluation: { upload: 'a'.repeat(64) } })).catch(codeOf),
      ).to.deep.equal(['LIMIT_EXCEEDED', 'rounds']);
      writeFileSync(limits, JSON.stringify({ task: { rounds: -1 } }));
      const refused = await spawnCoordinator(join(dir, 'refused'), 0, ['--limits', limits]).catch(
        (error: Error) => error.message,
      );
      expect(refused).to.match(/VALIDATION_FAILED: invalid limits file .*task\.rounds: Too small/);
    });
  });

  describe('keys', () => {
    it('creates, imports and unlocks encrypted keystores; a wrong or missing password is a clear error', async () => {
      const keys = join(dir, 'keys');
      mkdirSync(keys);
      const passwordFile = join(keys, 'password');
      writeFileSync(passwordFile, 'correct horse\n');
      const [refused, , why] = await zkfl(['key', 'new', '--key', join(keys, 'a.json')]);
      expect([refused, why]).to.deep.equal([
        1,
        'zkfl: VALIDATION_FAILED: a new keystore needs a password: give --password-file FILE or ZKFL_PASSWORD',
      ]);

      const [created, address] = await zkfl([
        'key',
        'new',
        '--key',
        join(keys, 'a.json'),
        '--password-file',
        passwordFile,
      ]);
      // At the real cost (scrypt N = 2^17), once; the keys below are cheaper to make and unlock (ZKFL_KEYSTORE_LOG_N).
      const keystore = readFileSync(join(keys, 'a.json'), 'utf8');
      expect([created, keystore.includes('privateKey')]).to.deep.equal([0, false]);
      expect(JSON.parse(keystore)).to.have.nested.property('Crypto.kdfparams.n', 2 ** 17);
      expect(await zkfl(['key', 'address', '--key', join(keys, 'a.json')])).to.deep.equal([0, address, '']);
      expect(loadWallet(join(keys, 'a.json'), 'correct horse').address).to.equal(address);

      const plain = new Wallet(Wallet.createRandom().privateKey);
      saveWallet(join(keys, 'plain.json'), plain);
      const [imported, importedAddress] = await zkfl(
        ['key', 'import', '--from', join(keys, 'plain.json'), '--key', join(keys, 'b.json')],
        { ZKFL_PASSWORD: 'battery staple', ZKFL_KEYSTORE_LOG_N: '10' },
      );
      expect([imported, importedAddress]).to.deep.equal([0, plain.address]);
      expect(JSON.parse(readFileSync(join(keys, 'b.json'), 'utf8'))).to.have.nested.property(
        'Crypto.kdfparams.n',
        1024,
      );
      expect(loadWallet(join(keys, 'b.json'), 'battery staple').privateKey).to.equal(plain.privateKey);

      const client = ['client', '--coordinator', 'http://127.0.0.1:9', '--task', 't', '--data', join(root, 'eval.csv')];
      const wrong = await zkfl([...client, '--key', join(keys, 'b.json')], { ZKFL_PASSWORD: 'wrong' });
      expect([wrong[0], wrong[2]]).to.deep.equal([
        1,
        `zkfl: AUTH_FAILED: wrong password for the keystore ${join(keys, 'b.json')}`,
      ]);
      const locked = await zkfl([...client, '--key', join(keys, 'b.json')]);
      expect(locked[2]).to.match(
        /AUTH_FAILED: .*b\.json is an encrypted keystore: give --password-file FILE or ZKFL_PASSWORD/,
      );
      const unencrypted = await zkfl([...client, '--key', join(keys, 'plain.json')]);
      expect(unencrypted[2]).to.match(/the key is stored unencrypted: encrypt it with `zkfl key import`/);
      expect(unencrypted[2]).to.match(/UNAVAILABLE: cannot reach/);
    });
  });

  it('keeps the session a sign-in opened until it expires, and refuses it after', async () => {
    const lasting = await coordinator({ sessionTtlSeconds: 3600 });
    const before = Date.now();
    const owner = await OwnerSession.open(lasting.url, randomWallet());
    expect(owner.session.expiresAt).to.be.within(before + 3600_000, Date.now() + 3600_000);
    expect((await owner.createTask(tinyTask())).spec.owner).to.equal(owner.session.address);

    const brief = await coordinator({ sessionTtlSeconds: 1 });
    const expiring = await OwnerSession.open(brief.url, randomWallet());
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiring.session.expiresAt - Date.now()) + 50));
    expect(await expiring.createTask(tinyTask()).catch(codeOf)).to.deep.equal(['AUTH_FAILED', undefined]);
  });
});
