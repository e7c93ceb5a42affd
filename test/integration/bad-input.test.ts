import { expect } from 'chai';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { type RoundEndPayload, type RoundStartPayload } from '../../protocol/events.js';
import type { ErrorBody } from '../../common/errors.js';
import type { SessionView, TaskView } from '../../protocol/rest.js';
import { OwnerSession } from '../../client/owner.js';
import { signConsent, type TermsView } from '../../protocol/terms.js';
import { keccak256 } from 'ethers';
import { smallTask, writeShards, dataRoot } from '../helpers/fixtures.js';
import { spawnZkfl } from '../helpers/processes.js';
import {
  connect,
  freshNonce,
  joinWithConsent,
  next,
  randomWallet,
  type RawSocket,
  request,
  signedIn,
} from '../helpers/raw-client.js';
import { signIn, signInStatement } from '../../protocol/sign-in.js';
import { SiweMessage } from 'siwe';
import { request as httpRequest } from 'node:http';
import { bytesOf } from '../../common/bytes.js';
import { HAND_FRACTION_BITS, handScales, provenUpdate, smallUpdate } from '../helpers/contribution.js';
import { createTask, getJson, getRounds, getWeights } from '../helpers/rest.js';
import { tempDir } from '../helpers/temp.js';
import { startTestCoordinator } from '../helpers/servers.js';

const maxPayloadBytes = 64 * 1024;

async function refusal(promise: Promise<unknown>): Promise<ErrorBody> {
  try {
    await promise;
  } catch (error) {
    return (error as { data: ErrorBody }).data;
  }
  throw new Error('expected the connection to be refused');
}

/** A POST whose Host header says what its sender wants (a relaying page sets it). */
function postWithHost(url: string, path: string, body: unknown, host: string): Promise<[number, ErrorBody]> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${url}${path}`,
      { method: 'POST', headers: { 'content-type': 'application/json', host } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve([response.statusCode!, JSON.parse(text) as ErrorBody]));
      },
    );
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

describe('bad input', function () {
  const dir = tempDir();
  let coordinator: RunningCoordinator;
  let url: string;

  before(async () => {
    coordinator = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'coordinator'), maxPayloadBytes });
    url = coordinator.url;
  });
  after(() => coordinator.close());

  describe('login', () => {
    it('refuses a signature by another key, a reused nonce, a sign-in for another coordinator and a malformed one', async () => {
      const wallet = randomWallet();
      const forged = await signedIn(url, wallet);
      forged.signature = await randomWallet().signMessage(forged.message);
      expect((await refusal(connect(url, wallet, forged))).code).to.equal('AUTH_FAILED');

      const valid = await signedIn(url, wallet);
      (await connect(url, wallet, valid)).disconnect();
      expect((await refusal(connect(url, wallet, valid))).message).to.match(/nonce/);

      const elsewhere = await signIn(wallet, 'http://coordinator.example:8080', await freshNonce(url));
      expect((await refusal(connect(url, wallet, elsewhere))).message).to.match(/is for coordinator\.example:8080/);

      const { nonce } = await freshNonce(url);
      const plain = `zkfl login\nnonce: ${nonce}`;
      const notSiwe = { message: plain, signature: await wallet.signMessage(plain) };
      expect((await refusal(connect(url, wallet, notSiwe))).message).to.match(/EIP-4361/);

      expect((await refusal(connect(url, wallet, {}))).code).to.equal('AUTH_FAILED');
      const garbage = { ...(await signedIn(url, wallet)), signature: '0x1234' };
      expect((await refusal(connect(url, wallet, garbage))).code).to.equal('AUTH_FAILED');
    });

    it('refuses a sign-in a phishing page relays: made for its own site and sent with its Host, on REST and sockets', async () => {
      // A page at evil.example fetched a nonce here and had a holder sign in to itself; it relays the signature with
      // its own Host header. The coordinator checks the message against its configured public URL, not the header.
      const wallet = randomWallet();
      const relayed = await signIn(wallet, 'http://evil.example', await freshNonce(url));
      const [status, body] = await postWithHost(url, '/api/auth/session', relayed, 'evil.example');
      expect([status, body.code, body.message]).to.deep.equal([
        401,
        'AUTH_FAILED',
        `the sign-in is for evil.example, this coordinator is ${new URL(url).host}`,
      ]);
      const socketRelay = await signIn(wallet, 'http://evil.example', await freshNonce(url));
      const onSocket = await refusal(connect(url, wallet, socketRelay, { host: 'evil.example' }));
      expect([onSocket.code, onSocket.message]).to.deep.equal([
        'AUTH_FAILED',
        `the sign-in is for evil.example, this coordinator is ${new URL(url).host}`,
      ]);

      // This coordinator's domain, but another URI, chain or statement: not a sign-in to it either.
      const edited = async (edit: (fields: Record<string, unknown>) => void): Promise<ErrorBody> => {
        const nonce = await freshNonce(url);
        const fields: Record<string, unknown> = {
          domain: new URL(url).host,
          address: wallet.address,
          statement: signInStatement,
          uri: new URL(url).origin,
          version: '1',
          chainId: nonce.chainId,
          nonce: nonce.nonce,
          issuedAt: new Date().toISOString(),
          expirationTime: new Date(nonce.expiresAt).toISOString(),
        };
        edit(fields);
        const message = new SiweMessage(fields).prepareMessage();
        return refusal(connect(url, wallet, { message, signature: await wallet.signMessage(message) }));
      };
      expect((await edited((fields) => void (fields['chainId'] = 999_999))).message).to.match(/for chain 999999/);
      expect((await edited((fields) => void (fields['uri'] = 'http://evil.example/'))).message).to.match(
        /URI http:\/\/evil\.example\/ is not on/,
      );
      expect((await edited((fields) => void (fields['statement'] = 'Claim your airdrop.'))).message).to.match(
        /statement is not/,
      );
      // Unedited, the same construction signs in.
      (await connect(url, wallet, undefined)).disconnect();
    });
  });

  describe('socket events and updates', () => {
    let task: TaskView;
    let modelHash: string;
    const sockets: RawSocket[] = [];
    const wallets = Array.from({ length: 4 }, () => randomWallet());

    before(async () => {
      task = await createTask(
        url,
        smallTask({ rounds: 1, clientsPerRound: { min: 1, target: 3 }, roundDeadlineSeconds: 120 }),
      );
      for (const wallet of wallets.slice(0, 3)) {
        const socket = await connect(url, wallet);
        const started = next<RoundStartPayload>(socket, 'round:start');
        expect(await joinWithConsent(socket, url, wallet, task.id)).to.deep.equal({ ok: true, round: 1 });
        modelHash = (await started).modelHash;
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
      const unknown = (await request(socket!, 'join', { taskId: 'no-such-task' })) as { error: ErrorBody };
      expect(unknown.error.code).to.equal('NOT_FOUND');
      const noPayload = (await request(socket!, 'update', null)) as { error: ErrorBody };
      expect(noPayload.error.code).to.equal('VALIDATION_FAILED');
      // Only an ack, no payload: the ack is answered, not taken for the payload.
      for (const event of ['join', 'update']) {
        const onlyAck = (await request(socket!, event)) as { ok: boolean; error: ErrorBody };
        expect(onlyAck, event).to.deep.include({ ok: false });
        expect(onlyAck.error.code, event).to.equal('VALIDATION_FAILED');
      }
    });

    it('lets a client join only with its own signed consent to the current terms', async () => {
      const wallet = randomWallet();
      const socket = await connect(url, wallet);
      const code = async (payload: object): Promise<string> => {
        const reply = await request(socket, 'join', payload);
        return reply.ok ? 'joined' : reply.error.code;
      };
      const { terms, termsHash } = await getJson<TermsView>(`${url}/api/tasks/${task.id}/terms`);
      const consent = await signConsent(wallet, terms.taskKey, termsHash);
      expect(await code({ taskId: task.id })).to.equal('CONSENT_REQUIRED');
      const otherTerms = await signConsent(wallet, terms.taskKey, keccak256('0x01'));
      expect(await code({ taskId: task.id, consent: otherTerms })).to.equal('CONSENT_REQUIRED');
      const byAnother = await signConsent(randomWallet(), terms.taskKey, termsHash);
      expect(await code({ taskId: task.id, consent: byAnother })).to.equal('CONSENT_REQUIRED');
      expect(await code({ taskId: task.id, consent: { ...consent, signature: '0x1234' } })).to.equal(
        'CONSENT_REQUIRED',
      );
      expect(await code({ taskId: task.id, consent: { ...consent, termsHash: 'x' } })).to.equal('VALIDATION_FAILED');
      expect(await code({ taskId: task.id, consent })).to.equal('joined');
      // Once given, the consent stands for later joins of the same terms.
      expect(await code({ taskId: task.id })).to.equal('joined');
      socket.disconnect();
    });

    it('rejects each bad update with its own code and aggregates none of them', async () => {
      const [first, second, third] = sockets;
      const q = smallUpdate(task.numParams);
      const good = await provenUpdate(task, { taskId: task.id, round: 1, address: wallets[0]!.address, modelHash }, q);
      const other = await createTask(url, smallTask({ rounds: 1, clientsPerRound: { min: 1, target: 1 } }));
      const code = async (socket: RawSocket, payload: unknown): Promise<string> => {
        const reply = await request(socket, 'update', payload);
        return reply.ok ? 'accepted' : reply.error.code;
      };

      expect(await code(first!, { ...good, round: 2 })).to.equal('WRONG_ROUND');
      expect(await code(first!, { ...good, taskId: other.id })).to.equal('WRONG_TASK');
      expect(await code(first!, { ...good, q: 'not bytes' })).to.equal('VALIDATION_FAILED');
      expect(await code(first!, { ...good, numSamples: -5 })).to.equal('VALIDATION_FAILED');
      expect(await code(first!, { ...good, numSamples: 2 ** 20 + 1 })).to.equal('VALIDATION_FAILED');

      const latecomer = await connect(url, wallets[3]!);
      expect(await joinWithConsent(latecomer, url, wallets[3]!, task.id)).to.include({ ok: true });
      expect(await code(latecomer, good)).to.equal('NOT_SELECTED');

      // The same update sent again (its answer lost) gets the same answer, while it is verified and once accepted,
      // and is not counted twice; another is refused.
      const [accepted, whileVerified] = await Promise.all([
        request(first!, 'update', good),
        request(first!, 'update', good),
      ]);
      expect(accepted.ok).to.equal(true);
      expect(whileVerified).to.deep.equal(accepted);
      expect(await request(first!, 'update', good)).to.deep.equal(accepted);
      const changed = Uint8Array.from(q, (value, i) => (i === 0 ? value ^ 1 : value));
      expect(await code(first!, { ...good, q: bytesOf(changed) })).to.equal('DUPLICATE_UPDATE');
      expect(await code(second!, { ...good, q: bytesOf(q.subarray(1)) })).to.equal('WRONG_LENGTH');
      const ended = next<RoundEndPayload>(first!, 'round:end');
      expect(
        await code(third!, {
          taskId: task.id,
          round: 1,
          numSamples: 10,
          q: bytesOf(q),
          fractionBits: handScales(task),
        }),
      ).to.equal('PROOF_MISSING');
      expect((await ended).participants).to.equal(1);

      const [round] = await getRounds(url, task.id);
      expect(round!.participants.map((p) => p.address)).to.deep.equal([wallets[0]!.address]);
      expect(round!.rejected.map((r) => r.code)).to.deep.equal([
        'WRONG_ROUND',
        'NOT_SELECTED',
        'DUPLICATE_UPDATE',
        'WRONG_LENGTH',
        'PROOF_MISSING',
      ]);
      expect(round!.rejected[3]).to.deep.include({ address: wallets[1]!.address });
      expect([round!.proofsVerified, round!.proofsRejected]).to.deep.equal([1, 0]);
      // Only the good update moved the model: w1 = w0 + q·2^−f (FedAvg of one update).
      const [before, after] = [await getWeights(url, task.id, 0), await getWeights(url, task.id, 1)];
      const scale = 2 ** -HAND_FRACTION_BITS;
      after.forEach((value, i) => expect(value - before[i]!).to.be.closeTo(q[i]! * scale, 1e-6));
    });

    it('keeps serving after all of it', async () => {
      expect(await getJson(`${url}/api/health`)).to.deep.equal({ ok: true });
      expect((await getJson<TaskView>(`${url}/api/tasks/${task.id}`)).status).to.equal('completed');
    });
  });

  describe('a flood of rejections', () => {
    it('lists a bounded number of rejections per address and per round, counts the rest, answers each', async () => {
      const limited = await startTestCoordinator({
        dataRoot,
        port: 0,
        dataDir: join(dir, 'limited'),
        rejectionLimits: { perAddress: 2, perRound: 3 },
      });
      try {
        const task = await createTask(
          limited.url,
          smallTask({ rounds: 1, clientsPerRound: { min: 2, target: 2 }, roundDeadlineSeconds: 60 }),
        );
        const [flooder, other] = [randomWallet(), randomWallet()];
        const sockets = await Promise.all(
          [flooder, other].map(async (wallet) => {
            const socket = await connect(limited.url, wallet);
            const started = next<RoundStartPayload>(socket, 'round:start');
            expect(await joinWithConsent(socket, limited.url, wallet, task.id)).to.include({ ok: true });
            return { socket, started };
          }),
        );
        // Both are sampled: their updates are judged in round 1.
        await Promise.all(sockets.map((s) => s.started));
        const short = { taskId: task.id, round: 1, numSamples: 10, q: new Uint8Array(3), fractionBits: [0] };
        // Each is refused with its code: the first as malformed, the rest as coming after it.
        const codes: string[] = [];
        const [flooding, answering] = sockets.map((s) => s.socket) as [RawSocket, RawSocket];
        for (const socket of [...Array<RawSocket>(6).fill(flooding), ...Array<RawSocket>(2).fill(answering)]) {
          const reply = await request(socket, 'update', short);
          codes.push(reply.ok ? 'accepted' : reply.error.code);
        }
        const refused = (count: number) => ['WRONG_LENGTH', ...Array<string>(count - 1).fill('DUPLICATE_UPDATE')];
        expect(codes).to.deep.equal([...refused(6), ...refused(2)]);
        const [round] = await getRounds(limited.url, task.id);
        expect(round!.rejected.map((r) => r.address)).to.deep.equal([flooder.address, flooder.address, other.address]);
        expect(round!.rejectedUnlisted).to.equal(5);
        for (const { socket } of sockets) socket.disconnect();
      } finally {
        await limited.close();
      }
    });
  });

  describe('proofs', () => {
    it('rejects every proof that does not bind this update to this task, round, sender and model', async () => {
      const task = await createTask(
        url,
        smallTask({ rounds: 1, clientsPerRound: { min: 1, target: forgeries.length }, roundDeadlineSeconds: 300 }),
      );
      const clients = await joinAsForgers(url, task);
      const honest = clients.get('honest')!;
      const q = smallUpdate(task.numParams);
      const good = await provenUpdate(task, forgerStatement(task, honest), q);
      // Refused by the schema, before the round counts them as answers.
      for (const payload of unschematic(good)) {
        expect(await answerTo(honest, payload)).to.deep.equal(['honest', 'VALIDATION_FAILED']);
      }
      // Far over the size limit: socket.io drops the sender's connection unread; nobody else notices.
      const flooder = await connect(url, randomWallet());
      const dropped = next<string>(flooder, 'disconnect');
      flooder.emit('update', { ...good, proofs: Array.from({ length: 10_001 }, () => good.proofs![0]) });
      expect(await dropped).to.equal('transport close');
      expect(honest.socket.connected).to.equal(true);

      const forgers = forgeries.slice(1).map(([name]) => clients.get(name)!);
      const forged = await Promise.all(forgers.map((forger) => forgedPayload(task, forger, good, q)));
      const outcomes: Array<[string, string]> = [];
      for (const [i, forger] of forgers.entries()) outcomes.push(await answerTo(forger, forged[i]!));
      const ended = next<RoundEndPayload>(honest.socket, 'round:end');
      outcomes.unshift(await answerTo(honest, good));
      expect(outcomes).to.deep.equal(forgeries.map(([name, code]) => [name, code]));
      const summary = await ended;
      expect([summary.participants, summary.proofsVerified, summary.proofsRejected]).to.deep.equal([1, 1, 10]);
      const [round] = await getRounds(url, task.id);
      expect(round!.rejected.find((r) => r.address === clients.get('replayed')!.wallet.address)?.reason).to.match(
        /bound to another task, round, address/,
      );
    });

    it("replaces a verifier that hangs past the timeout and verifies the proof again: never the client's fault", async () => {
      const hold = join(dir, 'hang.hold');
      writeFileSync(hold, '');
      process.env.ZKFL_TEST_HOLD_VERIFICATION = hold;
      const slow = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'slow'), verifyTimeoutMs: 1000 });
      try {
        const task = await createTask(slow.url, smallTask({ rounds: 1, clientsPerRound: { min: 1, target: 1 } }));
        const wallet = randomWallet();
        const socket = await connect(slow.url, wallet);
        const started = next<RoundStartPayload>(socket, 'round:start');
        await joinWithConsent(socket, slow.url, wallet, task.id);
        const { modelHash: hash } = await started;
        const update = await provenUpdate(
          task,
          { taskId: task.id, round: 1, address: wallet.address, modelHash: hash },
          smallUpdate(task.numParams),
        );
        const reply = await request(socket, 'update', update);
        // The first verifier held the proof (and still would): the pool gave up on it and asked a fresh one.
        expect([reply.ok ? 'accepted' : reply.error.code, existsSync(hold), existsSync(`${hold}.held`)]).to.deep.equal([
          'accepted',
          true,
          true,
        ]);
      } finally {
        delete process.env.ZKFL_TEST_HOLD_VERIFICATION;
        rmSync(hold, { force: true });
        await slow.close();
      }
    });
  });

  describe('frames too large', () => {
    it('drops a frame larger than a connection may send, before and after it joined, and keeps serving', async () => {
      // Before sign-in only small frames are read: a 200 KB handshake is dropped unread, as is its sign-in.
      const wallet = randomWallet();
      const padded = { ...(await signedIn(url, wallet)), padding: 'x'.repeat(200_000) };
      const refused = await connect(url, wallet, padded).then(
        () => 'connected',
        (error: Error) => error.message,
      );
      expect(refused).to.equal('transport close');

      // Joined, a connection may send about what the task's updates weigh: one much larger is dropped unread too.
      const task = await createTask(url, smallTask({ rounds: 1, clientsPerRound: { min: 1, target: 1 } }));
      const joined = await connect(url, wallet);
      expect(await joinWithConsent(joined, url, wallet, task.id)).to.include({ ok: true });
      const bound = await coordinator.coordinator.updateBytes(task.id);
      const tooLong = { taskId: task.id, round: 1, numSamples: 1, q: new Uint8Array(bound + 1), fractionBits: [0] };
      // Within the frame, over what the task takes: read and refused with its code.
      expect(await request(joined, 'update', tooLong)).to.deep.include({ ok: false });
      const dropped = next<string>(joined, 'disconnect');
      joined.emit('update', { ...tooLong, q: new Uint8Array(3 * bound) });
      expect(await dropped).to.equal('transport close');
      expect(await getJson(`${url}/api/health`)).to.deep.equal({ ok: true });
    });

    it('refuses a task whose updates would be larger than this coordinator takes', async () => {
      const owner = await OwnerSession.open(url, randomWallet());
      // 79,510 parameters: 80 KB of 6-bit values, over the 64 KiB this coordinator takes.
      const refused = await owner
        .createTask(smallTask({ model: { preset: 'mlp', hidden: [100] }, proofs: false }))
        .catch((error: ErrorBody) => [error.code, error.field]);
      expect(refused).to.deep.equal(['LIMIT_EXCEEDED', 'model']);
    });
  });

  describe('REST', () => {
    let session: SessionView;
    before(async () => {
      ({ session } = await OwnerSession.open(url, randomWallet()));
    });

    async function post(body: string): Promise<[number, ErrorBody]> {
      const response = await fetch(`${url}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${session.token}` },
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
      const [status, body] = await post(JSON.stringify(smallTask({ evaluation: { path: 'missing' } })));
      expect([status, body.code, body.field]).to.deep.equal([422, 'DATA_MISSING', 'evaluation.path']);
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

    it('answers 400 for a path that does not decode, never a 500', async () => {
      for (const path of ['/api/audit/tasks/%ZZ', '/api/tasks/%E0%A4%A', '/api/holders/%']) {
        const response = await fetch(`${url}${path}`);
        expect([path, response.status, ((await response.json()) as ErrorBody).code]).to.deep.equal([
          path,
          400,
          'VALIDATION_FAILED',
        ]);
      }
    });

    it('sends every page and answer with headers that keep other sites from framing, sniffing or opening it', async () => {
      for (const path of ['/', '/assets/dashboard.js', '/api/tasks', '/api/nothing']) {
        const { headers } = await fetch(`${url}${path}`);
        expect([
          path,
          headers.get('x-frame-options'),
          headers.get('x-content-type-options'),
          headers.get('cross-origin-opener-policy'),
          headers.get('cross-origin-embedder-policy'),
          headers.get('content-security-policy'),
        ]).to.deep.equal([
          path,
          'DENY',
          'nosniff',
          'same-origin',
          'require-corp',
          "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' blob:; worker-src 'self' blob:; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ]);
      }
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
      // Good data, but nobody agreed to the terms: the client shows them and does not take part.
      const running = await createTask(url, smallTask({ rounds: 1, clientsPerRound: { min: 1, target: 1 } }));
      const unattended = spawnZkfl([
        ...['client', '--coordinator', url, '--task', running.id, '--data', shard!],
        ...['--key', join(dir, 'k.json')],
      ]);
      expect(await unattended.exited).to.equal(1);
      expect(unattended.stderr.join('\n')).to.match(/Terms of task[\s\S]*CONSENT_REQUIRED: not a terminal/);
      expect(mismatch.stderr.join('\n')).to.match(
        /DATA_MALFORMED: examples have 2 values .* the task expects \[28, 28, 1\]/,
      );
    });
  });
});

/** Each forger of the proofs test, and the code its update is refused with (the first is honest). */
const forgeries = [
  ['honest', 'accepted'],
  ['missing', 'PROOF_MISSING'],
  ['replayed', 'PROOF_MISMATCH'],
  ['altered q', 'COMMITMENT_MISMATCH'],
  ['tampered proof', 'PROOF_INVALID'],
  ['other model', 'PROOF_MISMATCH'],
  ['other round', 'PROOF_MISMATCH'],
  ['other task', 'PROOF_MISMATCH'],
  ['two proofs', 'PROOF_MALFORMED'],
  ['one signal', 'PROOF_MALFORMED'],
  ['other scale', 'PROOF_MISMATCH'],
  ['scales missing', 'WRONG_LENGTH'],
  ['out of range', 'VALIDATION_FAILED'],
] as const;

type ForgerName = (typeof forgeries)[number][0];
interface Forger {
  name: ForgerName;
  wallet: ReturnType<typeof randomWallet>;
  socket: RawSocket;
  modelHash: string;
}
type Proven = Awaited<ReturnType<typeof provenUpdate>>;

/** One signed-in, consenting connection per forger, each joined to the task and told its round. */
async function joinAsForgers(url: string, task: TaskView): Promise<Map<ForgerName, Forger>> {
  const joined = await Promise.all(
    forgeries.map(async ([name]) => {
      const wallet = randomWallet();
      const socket = await connect(url, wallet);
      const started = next<RoundStartPayload>(socket, 'round:start');
      expect(await joinWithConsent(socket, url, wallet, task.id)).to.include({ ok: true });
      return { name, wallet, socket, modelHash: (await started).modelHash };
    }),
  );
  return new Map(joined.map((forger) => [forger.name, forger]));
}

/** What a forger's own honest proof would be bound to. */
function forgerStatement(task: TaskView, forger: Forger) {
  return { taskId: task.id, round: 1, address: forger.wallet.address, modelHash: forger.modelHash };
}

/** The forger's name and the code its update was answered with. */
async function answerTo(forger: Forger, payload: object): Promise<[string, string]> {
  const reply = await request(forger.socket, 'update', payload);
  return [forger.name, reply.ok ? 'accepted' : reply.error.code];
}

/** Updates whose proofs the payload schema refuses: a signal out of the field, too many signals, a bad point. */
function unschematic(good: Proven): object[] {
  const outside = structuredClone(good.proofs!);
  outside[0]!.publicSignals[1] = (2n ** 254n).toString();
  const oversized = structuredClone(good.proofs!);
  oversized[0]!.publicSignals = Array.from({ length: 65 }, () => '1');
  const badShape = [{ ...good.proofs![0]!, proof: { ...good.proofs![0]!.proof, pi_a: ['1', '2'] } }];
  return [
    { ...good, proofs: outside },
    { ...good, proofs: oversized },
    { ...good, proofs: badShape },
    { ...good, fractionBits: [64] },
  ];
}

/** The update a forger sends: `good` (another's honest update) or one proven for itself, bent as its name says. */
async function forgedPayload(task: TaskView, forger: Forger, good: Proven, q: Int8Array): Promise<object> {
  const own = forgerStatement(task, forger);
  const asRoundOne = { taskId: task.id, round: 1 };
  switch (forger.name) {
    case 'missing':
      return { ...good, proofs: undefined, salt: undefined };
    case 'altered q':
      return { ...(await provenUpdate(task, own, q)), q: bytesOf(smallUpdate(task.numParams, 2)) };
    case 'tampered proof': {
      const proven = await provenUpdate(task, own, q);
      const proofs = structuredClone(proven.proofs!);
      const piA = (proofs[0]!.proof as { pi_a: string[] }).pi_a;
      piA[0] = String(BigInt(piA[0]!) + 1n);
      return { ...proven, proofs };
    }
    case 'other model':
      return provenUpdate(task, { ...own, modelHash: 'c'.repeat(64) }, q);
    case 'other round':
      return provenUpdate(task, { ...own, round: 2 }, q, asRoundOne);
    case 'other task':
      return provenUpdate(task, { ...own, taskId: 't-000000000000' }, q, asRoundOne);
    case 'two proofs':
      return { ...good, proofs: [...good.proofs!, ...good.proofs!] };
    case 'one signal': {
      const proofs = structuredClone(good.proofs!);
      proofs[0]!.publicSignals.pop();
      return { ...good, proofs };
    }
    // Proven at 2^−10 but declared at 2^−11: it would count for half of what it proved.
    case 'other scale':
      return { ...(await provenUpdate(task, own, q)), fractionBits: [HAND_FRACTION_BITS + 1] };
    case 'scales missing':
      return { ...good, fractionBits: [] };
    // 100 fits the int8 on the wire, not the task's 6-bit values.
    case 'out of range':
      return { ...good, q: bytesOf(Int8Array.from(q, (value, i) => (i === 3 ? 100 : value))) };
    default:
      // 'replayed' (and 'honest'): another's update as it is.
      return good;
  }
}
