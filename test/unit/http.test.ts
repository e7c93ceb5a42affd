import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { requestJson } from '../../protocol/http.js';
import { ZkflError } from '../../common/errors.js';

describe('REST calls to a coordinator', () => {
  let server: Server;
  let url: string;
  let requests = 0;

  before(async () => {
    // Resets the connection of every odd request, as a server does that closes a kept-alive socket being reused.
    server = createServer((request, response) => {
      if (++requests % 2 === 1) {
        request.socket.destroy();
        return;
      }
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ method: request.method }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => server.close());
  beforeEach(() => (requests = 0));

  it('sends a GET again when the connection is reset', async () => {
    expect(await requestJson(url)).to.deep.equal({ method: 'GET' });
    expect(requests).to.equal(2);
  });

  it('never sends anything but a GET twice: a reset POST is UNAVAILABLE', async () => {
    const failure = await requestJson(url, { method: 'POST', body: '{}' }).catch((error: unknown) => error);
    expect(failure).to.be.instanceOf(ZkflError);
    expect((failure as ZkflError).code).to.equal('UNAVAILABLE');
    expect(requests).to.equal(1);
  });
});
