/**
 * `npm run bench:flood`: a real coordinator process under hostile traffic from one machine — bursts of malformed
 * socket events from many connections, a storm of nonce and sign-in requests, oversized and invalid task specs —
 * with the default limits. Measures its resident memory before, during and after, what the flood was answered with,
 * and how long an honest request takes meanwhile. Writes results/flood.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { io, type Socket } from 'socket.io-client';
import { OwnerSession } from '../client/owner.js';
import { CoordinatorApi } from '../protocol/api.js';
import type { NonceView } from '../protocol/rest.js';
import { signIn } from '../protocol/sign-in.js';
import { machine, peakRssMiB, rssMiB } from './lib/machine.js';
import { startCoordinatorProcess } from './lib/processes.js';

const connections = 200;
const malformedPerConnection = 50;
const requests = 5000;

const dir = mkdtempSync(join(tmpdir(), 'zkfl-flood-'));
const { child, url } = await startCoordinatorProcess(join(dir, 'coordinator'));
const pid = child.pid!;
// Raw fetch for the hostile requests (they are meant to fail), the typed client for the honest ones.
const api = new CoordinatorApi(url);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const tally = new Map<string, number>();
const count = (what: string): void => void tally.set(what, (tally.get(what) ?? 0) + 1);

/** Milliseconds an honest GET /api/tasks takes, median of 5. */
async function honestMs(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    await api.tasks();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[2]!;
}

async function connect(): Promise<Socket | undefined> {
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  const response = await fetch(api.url('nonce'));
  if (response.status !== 200) {
    count(`nonce ${response.status}`);
    return undefined;
  }
  const socket = io(url, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    auth: await signIn(wallet, url, (await response.json()) as NonceView),
  });
  return new Promise((resolve) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error: Error & { data?: { code: string } }) => {
      count(`connection refused ${error.data?.code ?? error.message}`);
      resolve(undefined);
    });
  });
}

try {
  await sleep(1000);
  const idle = rssMiB(pid);
  const idleMs = await honestMs();
  const started = Date.now();

  // Many connections, each sending malformed events until it is dropped.
  const sockets = (await Promise.all(Array.from({ length: connections }, connect))).filter((s) => s !== undefined);
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          socket.once('disconnect', (reason) => {
            count(`socket ${reason}`);
            resolve();
          });
          for (let i = 0; i < malformedPerConnection; i++) socket.emit('join', { taskId: i });
          setTimeout(resolve, 10_000);
        }),
    ),
  );
  const duringSockets = rssMiB(pid);
  const socketsMs = await honestMs();

  // A storm of nonces, forged sign-ins and oversized or unsigned task specs.
  const owner = await OwnerSession.open(url, Wallet.createRandom());
  const hostile = Array.from({ length: requests }, (_, i) => {
    const kind = i % 4;
    if (kind === 0) return fetch(api.url('nonce'));
    if (kind === 1)
      return fetch(api.url('session'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'x'.repeat(1000), signature: '0x00' }),
      });
    return fetch(api.url('createTask'), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(kind === 2 ? { authorization: `Bearer ${owner.session.token}` } : {}),
      },
      body: JSON.stringify({ model: { preset: 'mlp', hidden: [20000, 20000] }, inputShape: [784], rounds: 1 }),
    });
  });
  for (let i = 0; i < hostile.length; i += 250) {
    for (const response of await Promise.all(hostile.slice(i, i + 250))) {
      const body = (await response.json()) as { code?: string };
      count(`HTTP ${response.status} ${body.code ?? 'ok'}`);
    }
  }
  const duringRequests = rssMiB(pid);
  const requestsMs = await honestMs();
  const seconds = (Date.now() - started) / 1000;
  await sleep(5000);
  const after = rssMiB(pid);

  const rows = [
    ['idle', idle, idleMs],
    [`after ${connections} connections × ${malformedPerConnection} malformed events`, duringSockets, socketsMs],
    [`after ${requests} hostile requests`, duringRequests, requestsMs],
    ['5 s later', after, await honestMs()],
  ] as const;
  const table = [
    '| moment | coordinator RSS (MiB) | honest GET /api/tasks, median of 5 (ms) |',
    '|---|---:|---:|',
    ...rows.map(([moment, rss, ms]) => `| ${moment} | ${rss.toFixed(0)} | ${ms.toFixed(1)} |`),
  ].join('\n');
  const answers = [...tally].sort().map(([what, n]) => `- ${what}: ${n}`);
  const report =
    `Machine: ${machine()}. Default limits; all traffic from one IP address (so the per-IP limits are what trip). ` +
    `The flood took ${seconds.toFixed(1)} s; peak RSS over the run ${peakRssMiB(pid).toFixed(0)} MiB.\n\n` +
    `${table}\n\nWhat the flood was answered with:\n\n${answers.join('\n')}\n`;
  writeFileSync(new URL('./results/flood.md', import.meta.url), report);
  process.stdout.write(report);
} finally {
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
