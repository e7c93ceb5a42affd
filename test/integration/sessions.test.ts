import { expect } from 'chai';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ClientEvent } from '../../client/core/round-loop.js';
import type { ErrorBody } from '../../common/errors.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { CoordinatorApi } from '../../protocol/api.js';
import { dataRoot, smallTask, writeShards } from '../helpers/fixtures.js';
import { runClients } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { connect, joinWithConsent, randomWallet, signedIn } from '../helpers/raw-client.js';
import { createTask } from '../helpers/rest.js';
import { startTestCoordinator } from '../helpers/servers.js';
import { tcpProxy } from '../helpers/tcp-proxy.js';
import { tempDir } from '../helpers/temp.js';

/** A socket sign-in by session (protocol/sign-in.ts `sessionHandshakeSchema`), and the client reconnecting on one. */
describe('socket sessions', function () {
  const dir = tempDir();
  let proxied: RunningCoordinator;
  let proxyUrl: string;

  before(async () => {
    // Clients reach this coordinator through a proxy that the test can cut: its public URL is the proxy's.
    const port = await freePort();
    proxyUrl = `http://127.0.0.1:${port}`;
    proxied = await startTestCoordinator({
      dataRoot,
      port: 0,
      dataDir: join(dir, 'coordinator'),
      publicUrls: [proxyUrl],
    });
  });

  const refusal = (url: string, auth: object): Promise<[string, string]> =>
    connect(url, randomWallet(), auth).then(
      () => ['connected', ''],
      (error: Error & { data?: ErrorBody }) => [error.data!.code, error.data!.message],
    );

  it("opens a socket on a session a sign-in opened, as that session's address; refuses unknown and malformed ones", async () => {
    const proxy = await tcpProxy(new URL(proxied.url), Number(new URL(proxyUrl).port));
    try {
      const api = new CoordinatorApi(proxyUrl);
      const task = await createTask(proxyUrl, smallTask({ rounds: 1 }));
      const wallet = randomWallet();
      const { token, address } = await api.session(await signedIn(proxyUrl, wallet));
      const socket = await connect(proxyUrl, wallet, { session: token });
      // The socket is the session's address: consent signed by that key joins.
      expect(await joinWithConsent(socket, proxyUrl, wallet, task.id)).to.include({ ok: true });
      expect(address).to.equal(wallet.address);
      socket.disconnect();
      expect(await refusal(proxyUrl, { session: randomBytes(16).toString('hex') })).to.deep.equal([
        'AUTH_FAILED',
        'unknown or expired session: sign in again',
      ]);
      for (const malformed of [{ session: 'x' }, { session: token, message: 'm', signature: '0x00' }, {}]) {
        expect((await refusal(proxyUrl, malformed))[0]).to.equal('AUTH_FAILED');
      }
    } finally {
      await proxy.close();
    }
  });

  it('refuses a session once it expired', async () => {
    const brief = await startTestCoordinator({ dataRoot, port: 0, dataDir: join(dir, 'brief'), sessionTtlSeconds: 1 });
    const wallet = randomWallet();
    const session = await new CoordinatorApi(brief.url).session(await signedIn(brief.url, wallet));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, session.expiresAt - Date.now()) + 50));
    expect(await refusal(brief.url, { session: session.token })).to.deep.equal([
      'AUTH_FAILED',
      'unknown or expired session: sign in again',
    ]);
  });

  it('a client whose network drops rejoins on its session: its wallet is asked to sign in once', async () => {
    const proxy = await tcpProxy(new URL(proxied.url), Number(new URL(proxyUrl).port));
    try {
      const task = await createTask(
        proxyUrl,
        smallTask({ rounds: 2, clientsPerRound: { min: 1, target: 1 }, roundDeadlineSeconds: 120 }),
      );
      const events: ClientEvent['type'][] = [];
      let cut = false;
      const onEvent = (event: ClientEvent): void => {
        events.push(event.type);
        // Once joined, the network goes away for a moment: every connection through the proxy is cut.
        if (event.type === 'joined' && !cut) {
          cut = true;
          void proxy.down().then(() => setTimeout(() => void proxy.up(), 300));
        }
      };
      const [shard] = writeShards(dir, [300]);
      const [result] = await Promise.all(
        runClients(proxyUrl, task.id, [shard!], [join(dir, 'holder.json')], { onEvent }),
      );
      expect(result!.status).to.equal('completed');
      expect(result!.roundsContributed).to.equal(2);
      expect(events.filter((type) => type === 'disconnected').length).to.be.at.least(1);
      expect(events.filter((type) => type === 'joined').length).to.be.at.least(2);
      expect(events.filter((type) => type === 'signing in')).to.have.length(1);
    } finally {
      await proxy.close();
    }
  });
});
