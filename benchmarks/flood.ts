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
const waves = 8;

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

/** Many connections sending malformed events until they are dropped. */
async function malformedBurst(): Promise<void> {
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
}

/** A storm of nonces, forged sign-ins, and task specs far over the limits, signed in or not. */
async function requestStorm(token: string): Promise<void> {
  const huge = {
    model: { preset: 'mlp', hidden: [20000, 20000] },
    inputShape: [784],
    rounds: 1,
    clientsPerRound: { min: 1, target: 1 },
    evaluation: { upload: 'a'.repeat(64) },
  };
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
      headers: { 'content-type': 'application/json', ...(kind === 2 ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(huge),
    });
  });
  for (let i = 0; i < hostile.length; i += 250) {
    for (const response of await Promise.all(hostile.slice(i, i + 250))) {
      const body = (await response.json()) as { code?: string };
      count(`HTTP ${response.status} ${body.code ?? 'ok'}`);
    }
  }
}

try {
  await sleep(1000);
  const rows: Array<[string, number, number]> = [['idle', rssMiB(pid), await honestMs()]];
  const owner = await OwnerSession.open(url, Wallet.createRandom());
  const started = Date.now();
  for (let wave = 1; wave <= waves; wave++) {
    await malformedBurst();
    await requestStorm(owner.session.token);
    rows.push([`after wave ${wave}`, rssMiB(pid), await honestMs()]);
  }
  const seconds = (Date.now() - started) / 1000;
  await sleep(5000);
  rows.push(['5 s later', rssMiB(pid), await honestMs()]);

  const table = [
    '| moment | coordinator RSS (MiB) | honest GET /api/tasks, median of 5 (ms) |',
    '|---|---:|---:|',
    ...rows.map(([moment, rss, ms]) => `| ${moment} | ${rss.toFixed(0)} | ${ms.toFixed(1)} |`),
  ].join('\n');
  const answers = [...tally].sort().map(([what, n]) => `- ${what}: ${n}`);
  const report =
    `Machine: ${machine()}. Default limits; all traffic from one IP address (so the per-IP limits are what trip ` +
    `first). Each wave: ${connections} connections sending ${malformedPerConnection} malformed events each, then ` +
    `${requests} hostile requests (nonces, forged sign-ins, 415,920,010-parameter task specs with and without a ` +
    `session). ${waves} waves took ${seconds.toFixed(1)} s; peak RSS over the run ${peakRssMiB(pid).toFixed(0)} MiB.\n\n` +
    `${table}\n\nWhat the flood was answered with, in all:\n\n${answers.join('\n')}\n`;
  writeFileSync(new URL('./results/flood.md', import.meta.url), report);
  process.stdout.write(report);
} finally {
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
