import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AnswerLimits, requestBytes, requestJson } from '../../protocol/http.js';
import { ZkflError } from '../../common/errors.js';

/** What a call failed with: its ZkflError code. */
const failureCode = (call: Promise<unknown>): Promise<string> =>
  call.then(
    () => 'answered',
    (error: unknown) => (error instanceof ZkflError ? error.code : String(error)),
  );

describe('REST calls to a coordinator', () => {
  let server: Server;
  let base: string;
  let requests = 0;
  /** Sockets the server holds open without answering, closed after each test. */
  const held: IncomingMessage[] = [];
  const routes: Record<string, (request: IncomingMessage, response: ServerResponse) => void> = {
    // Resets the connection of every odd request, as a server does that closes a kept-alive socket being reused.
    '/reset': (request, response) => {
      if (++requests % 2 === 1) return void request.socket.destroy();
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ method: request.method }));
    },
    '/never': (request) => void held.push(request),
    '/stalls': (request, response) => {
      held.push(request);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"partial": ');
    },
    // A slow link: the answer comes in parts, each within the silence allowed, the whole well past it.
    '/trickles': (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const parts = ['[', '1,', '2,', '3,', '4,', '5', ']'];
      const next = () => {
        response.write(parts.shift()!);
        if (parts.length === 0) response.end();
        else setTimeout(next, 500);
      };
      next();
    },
    '/large-declared': (_request, response) => {
      response.writeHead(200, { 'content-length': String(4096) });
      response.end(Buffer.alloc(4096));
    },
    // No length declared: it only shows once read, and is cut off there.
    '/large-chunked': (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let part = 0; part < 8; part++) response.write(Buffer.alloc(512));
      response.end();
    },
    // Answers only after a while longer than the silence allowed, as after taking a large upload in.
    '/slow-answer': (request, response) => {
      request.resume();
      request.on('end', () => setTimeout(() => response.end('"taken"'), 3_000));
    },
    // Too busy for the first request of each test, asking it to come back in a second.
    '/busy': (_request, response) => {
      if (++requests === 1) {
        response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
        return void response.end(JSON.stringify({ code: 'RATE_LIMITED', message: 'try again in 1 s' }));
      }
      response.end('"served"');
    },
    '/busy-for-an-hour': (_request, response) => {
      requests++;
      response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '3600' });
      response.end(JSON.stringify({ code: 'RATE_LIMITED', message: 'try again in 3600 s' }));
    },
    '/not-json': (_request, response) => response.end('<html>'),
    '/refused': (_request, response) => {
      response.writeHead(403, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ code: 'NOT_INVITED', message: 'not one of the holders' }));
    },
  };
  // Margins a busy machine keeps: parts come 4 times faster than the silence allowed, and the slow answer is a
  // second late for a request without a body but two seconds early for the upload.
  const limits: AnswerLimits = { silenceMs: 2_000, maxBytes: 1_024 };

  before(async () => {
    server = createServer((request, response) => routes[request.url!]!(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());
  beforeEach(() => (requests = 0));
  afterEach(() => held.splice(0).forEach((request) => request.socket.destroy()));

  it('sends a GET again when the connection is reset', async () => {
    expect(await requestJson(`${base}/reset`)).to.deep.equal({ method: 'GET' });
    expect(requests).to.equal(2);
  });

  it('never sends anything but a GET twice: a reset POST is UNAVAILABLE', async () => {
    expect(await failureCode(requestJson(`${base}/reset`, { method: 'POST', body: '{}' }))).to.equal('UNAVAILABLE');
    expect(requests).to.equal(1);
  });

  it('sends a GET answered RATE_LIMITED again once its Retry-After passed, and nothing else', async () => {
    expect(await requestJson(`${base}/busy`)).to.equal('served');
    expect(requests).to.equal(2);
    requests = 0;
    expect(await failureCode(requestJson(`${base}/busy`, { method: 'POST', body: '{}' }))).to.equal('RATE_LIMITED');
    expect(requests).to.equal(1);
    // A wait longer than a caller would sit through is the caller's to decide on.
    requests = 0;
    expect(await failureCode(requestJson(`${base}/busy-for-an-hour`))).to.equal('RATE_LIMITED');
    expect(requests).to.equal(1);
  });

  it('gives up on a coordinator that never answers, or stops part-way, as UNAVAILABLE, once', async () => {
    expect(await failureCode(requestJson(`${base}/never`, undefined, limits))).to.equal('UNAVAILABLE');
    // A silent coordinator is not asked again: that would only wait as long again.
    expect(held).to.have.length(1);
    expect(await failureCode(requestJson(`${base}/stalls`, undefined, limits))).to.equal('UNAVAILABLE');
  });

  it('reads a slow answer to its end, however long it takes, while its parts keep coming', async () => {
    expect(await requestJson(`${base}/trickles`, undefined, limits)).to.deep.equal([1, 2, 3, 4, 5]);
  });

  it('waits longer for the answer to a request with a large body, while that body is being sent', async () => {
    expect(await failureCode(requestJson(`${base}/slow-answer`, undefined, limits))).to.equal('UNAVAILABLE');
    // 192 KiB at the slowest allowed 64 KiB/s: 3 s more before the answer must start.
    const upload = { method: 'POST', body: JSON.stringify('x'.repeat(192 * 1024)) };
    expect(await requestJson(`${base}/slow-answer`, upload, limits)).to.equal('taken');
  });

  it('refuses an answer over its limit, declared or only found by reading it', async () => {
    expect(await failureCode(requestBytes(`${base}/large-declared`, limits))).to.equal('PAYLOAD_TOO_LARGE');
    expect(await failureCode(requestBytes(`${base}/large-chunked`, limits))).to.equal('PAYLOAD_TOO_LARGE');
    expect(await requestBytes(`${base}/large-chunked`, { ...limits, maxBytes: 4_096 })).to.have.length(4_096);
  });

  it("keeps the coordinator's error code, and names an answer that is not JSON", async () => {
    expect(await failureCode(requestJson(`${base}/refused`))).to.equal('NOT_INVITED');
    expect(await failureCode(requestJson(`${base}/not-json`))).to.equal('DATA_MALFORMED');
  });
});
