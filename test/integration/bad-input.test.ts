import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '../../coordinator/server.js';
import { authMessage, type RoundEndPayload, type RoundStartPayload } from '../../protocol/events.js';
import type { ErrorBody } from '../../protocol/errors.js';
import type { TaskView } from '../../protocol/rest.js';
import { smallTask, writeShards } from '../helpers/fixtures.js';
import { spawnZkfl } from '../helpers/processes.js';
import { connect, freshNonce, next, randomWallet, type RawSocket, request } from '../helpers/raw-client.js';
import { createTask, getJson, getRounds, getWeights } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';

const maxPayloadBytes = 64 * 1024;

function update(task: TaskView, values: Float32Array, overrides: object = {}): object {
  return { taskId: task.id, round: 1, numSamples: 100, delta: new Uint8Array(values.buffer), ...overrides };
}

async function refusal(promise: Promise<unknown>): Promise<ErrorBody> {
  try {
    await promise;
  } catch (error) {
    return (error as { data: ErrorBody }).data;
  }
  throw new Error('expected the connection to be refused');
}

describe('bad input', function () {
  this.timeout(120_000);
  const dir = tempDir();
  let coordinator: RunningCoordinator;
  let url: string;

  before(async () => {
    coordinator = await startCoordinator({ port: 0, dataDir: join(dir, 'coordinator'), maxPayloadBytes });
    url = coordinator.url;
  });
  after(() => coordinator.close());

  describe('login', () => {
    it('refuses a signature by another key, a reused nonce and a malformed handshake', async () => {
      const wallet = randomWallet();
      const impostor = randomWallet();
      const nonce = await freshNonce(url);
      const signature = await impostor.signMessage(authMessage(nonce));
      expect((await refusal(connect(url, wallet, { address: wallet.address, nonce, signature }))).code).to.equal(
        'AUTH_FAILED',
      );

      const reused = await freshNonce(url);
      const valid = {
        address: wallet.address,
        nonce: reused,
        signature: await wallet.signMessage(authMessage(reused)),
      };
      (await connect(url, wallet, valid)).disconnect();
      expect((await refusal(connect(url, wallet, valid))).message).to.match(/nonce/);

      expect((await refusal(connect(url, wallet, {}))).code).to.equal('AUTH_FAILED');
      const garbage = { address: wallet.address, nonce: await freshNonce(url), signature: '0x1234' };
      expect((await refusal(connect(url, wallet, garbage))).code).to.equal('AUTH_FAILED');
    });
  });

  describe('socket events and updates', () => {
    let task: TaskView;
    let numParams: number;
    const sockets: RawSocket[] = [];
    const wallets = [randomWallet(), randomWallet(), randomWallet(), randomWallet()];

    before(async () => {
      task = await createTask(
        url,
        smallTask({ rounds: 1, clientsPerRound: { min: 1, target: 3 }, roundDeadlineSeconds: 60 }),
      );
      numParams = task.numParams;
      for (const wallet of wallets.slice(0, 3)) {
        const socket = await connect(url, wallet);
        const started = next<RoundStartPayload>(socket, 'round:start');
        expect(await request(socket, 'join', { taskId: task.id })).to.deep.equal({ ok: true, round: 1 });
        expect((await started).round).to.equal(1);
        sockets.push(socket);
      }
    });

    it('answers unknown and malformed events with a code, with or without an ack', async () => {
      const [socket] = sockets;
      expect(await request(socket!, 'hack', { x: 1 })).to.deep.include({ ok: false });
      expect(((await request(socket!, 'hack', 1)) as { error: ErrorBody }).error.code).to.equal('UNKNOWN_EVENT');
      const pushed = next<ErrorBody>(socket!, 'zkfl:error');
      socket!.emit('hack');
      expect((await pushed).code).to.equal('UNKNOWN_EVENT');
      const malformed = (await request(socket!, 'join', { taskId: 5 })) as { error: ErrorBody };
      expect(malformed.error).to.deep.include({ code: 'VALIDATION_FAILED', field: 'taskId' });
      expect(
        ((await request(socket!, 'join', { taskId: 'no-such-task' })) as { error: ErrorBody }).error.code,
      ).to.equal('NOT_FOUND');
      const noPayload = (await request(socket!, 'update', null)) as { error: ErrorBody };
      expect(noPayload.error.code).to.equal('VALIDATION_FAILED');
    });

    it('rejects each bad update with its own code and aggregates none of them', async () => {
      const [first, second, third] = sockets;
      const good = new Float32Array(numParams).fill(0.01);
      const other = await createTask(url, smallTask({ rounds: 1, clientsPerRound: { min: 1, target: 1 } }));
      const code = async (socket: RawSocket, payload: unknown): Promise<string> => {
        const reply = await request(socket, 'update', payload);
        return reply.ok ? 'accepted' : reply.error.code;
      };

      expect(await code(first!, update(task, good, { round: 2 }))).to.equal('WRONG_ROUND');
      expect(await code(first!, update(other, good))).to.equal('WRONG_TASK');
      expect(await code(first!, update(task, new Float32Array(maxPayloadBytes / 4 + 1)))).to.equal('PAYLOAD_TOO_LARGE');
      expect(await code(first!, update(task, good, { delta: 'not bytes' }))).to.equal('VALIDATION_FAILED');
      expect(await code(first!, update(task, good, { numSamples: -5 }))).to.equal('VALIDATION_FAILED');

      const latecomer = await connect(url, wallets[3]!);
      expect((await request(latecomer, 'join', { taskId: task.id })).ok).to.equal(true);
      expect(await code(latecomer, update(task, good))).to.equal('NOT_SELECTED');

      expect(await code(first!, update(task, good))).to.equal('accepted');
      expect(await code(first!, update(task, good))).to.equal('DUPLICATE_UPDATE');
      const poisoned = new Float32Array(numParams).fill(0.01);
      poisoned[7] = Number.NaN;
      expect(await code(second!, update(task, poisoned))).to.equal('NON_FINITE');
      const ended = next<RoundEndPayload>(first!, 'round:end');
      expect(await code(third!, update(task, new Float32Array(numParams - 1)))).to.equal('WRONG_LENGTH');
      expect((await ended).participants).to.equal(1);

      const [round] = await getRounds(url, task.id);
      expect(round!.participants.map((p) => p.address)).to.deep.equal([wallets[0]!.address]);
      expect(round!.rejected.map((r) => r.code)).to.deep.equal([
        'WRONG_ROUND',
        'NOT_SELECTED',
        'DUPLICATE_UPDATE',
        'NON_FINITE',
        'WRONG_LENGTH',
      ]);
      expect(round!.rejected[3]).to.deep.include({ address: wallets[1]!.address });
      // Only the good update moved the model: w1 = w0 + 0.01 everywhere (FedAvg of one update).
      const [before, after] = [await getWeights(url, task.id, 0), await getWeights(url, task.id, 1)];
      after.forEach((value, i) => expect(value - before[i]!).to.be.closeTo(0.01, 1e-6));
    });

    it('keeps serving after all of it', async () => {
      expect(await getJson(`${url}/api/health`)).to.deep.equal({ ok: true });
      expect((await getJson<TaskView>(`${url}/api/tasks/${task.id}`)).status).to.equal('completed');
    });
  });

  describe('REST', () => {
    async function post(body: string): Promise<[number, ErrorBody]> {
      const response = await fetch(`${url}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      return [response.status, (await response.json()) as ErrorBody];
    }

    it('answers 400 naming the field of an invalid task', async () => {
      expect(await post(JSON.stringify({ ...smallTask(), rounds: -1 }))).to.deep.equal([
        400,
        {
          code: 'VALIDATION_FAILED',
          message: 'invalid task spec: rounds: Too small: expected number to be >0',
          field: 'rounds',
        },
      ]);
      const [status, body] = await post(JSON.stringify(smallTask({ evaluation: { path: join(dir, 'missing') } })));
      expect([status, body.code, body.field]).to.deep.equal([400, 'VALIDATION_FAILED', 'evaluation.path']);
      const topology = await post(JSON.stringify(smallTask({ model: { topology: { class_name: 'Nonsense' } } })));
      expect([topology[0], topology[1].field]).to.deep.equal([400, 'model']);
      const classes = await post(JSON.stringify(smallTask({ classes: 3 })));
      expect([classes[0], classes[1].field]).to.deep.equal([400, 'evaluation.path']);
    });

    it('answers 400 for a body that is not JSON and 413 for one too large', async () => {
      expect(await post('{"rounds": ')).to.deep.equal([
        400,
        { code: 'MALFORMED_PAYLOAD', message: 'request body is not valid JSON' },
      ]);
      const [status, body] = await post(JSON.stringify({ padding: 'x'.repeat(11 * 1024 * 1024) }));
      expect([status, body.code]).to.deep.equal([413, 'PAYLOAD_TOO_LARGE']);
    });

    it('answers 404 for unknown ids and routes', async () => {
      for (const path of [
        '/api/tasks/nope',
        '/api/tasks/nope/rounds',
        '/api/tasks/nope/model/latest/model.json',
        '/api/nothing',
      ]) {
        const response = await fetch(`${url}${path}`);
        expect([path, response.status, ((await response.json()) as ErrorBody).code]).to.deep.equal([
          path,
          404,
          'NOT_FOUND',
        ]);
      }
      const [task] = await getJson<TaskView[]>(`${url}/api/tasks`);
      expect((await fetch(`${url}/api/tasks/${task!.id}/rounds/99`)).status).to.equal(404);
      expect((await fetch(`${url}/api/tasks/${task!.id}/rounds/first`)).status).to.equal(400);
    });
  });

  describe('client data', () => {
    it('explains a missing or malformed data file and exits non-zero', async () => {
      const [task] = await getJson<TaskView[]>(`${url}/api/tasks`);
      const ragged = join(dir, 'ragged.csv');
      writeFileSync(ragged, '1,2,3\n4,5\n');
      const [shard] = writeShards(dir, [20]);
      const cases: Array<[string, string, RegExp]> = [
        [join(dir, 'nowhere.csv'), task!.id, /DATA_MISSING: cannot read .*nowhere\.csv/],
        [ragged, task!.id, /DATA_MALFORMED: .*ragged\.csv line 2: 2 columns, expected 3/],
        [join(dir, 'ragged.csv'), task!.id, /DATA_MALFORMED/],
        [shard!, 'no-such-task', /NOT_FOUND: no task no-such-task/],
      ];
      for (const [data, taskId, message] of cases) {
        const client = spawnZkfl([
          'client',
          '--coordinator',
          url,
          '--task',
          taskId,
          '--data',
          data,
          '--key',
          join(dir, 'k.json'),
        ]);
        expect(await client.exited).to.equal(1);
        expect(client.stderr.join('\n')).to.match(message);
      }
      const csvForImages = join(dir, 'small.csv');
      writeFileSync(csvForImages, '1,2,3\n4,5,6\n');
      const mismatch = spawnZkfl([
        'client',
        '--coordinator',
        url,
        '--task',
        task!.id,
        '--data',
        csvForImages,
        '--key',
        join(dir, 'k.json'),
      ]);
      expect(await mismatch.exited).to.equal(1);
      expect(mismatch.stderr.join('\n')).to.match(
        /DATA_MALFORMED: examples have 2 values .* the task expects \[28, 28, 1\]/,
      );
    });
  });
});
