/**
 * `npm run bench:flood`: a real coordinator process under hostile traffic from one machine, with the default
 * limits, one attack at a time:
 * - bursts of malformed socket events from many signed-in connections, from ten addresses;
 * - a storm of nonce and forged sign-in requests and task specs far over the limits, from one address and from ten;
 * - evaluation-set bombs of each format (a gzip CSV, an IDX header promising more than it holds);
 * - oversized packets before any sign-in, over websocket frames and polling bodies.
 * For each, the coordinator's resident memory (its process and the children it parses data in) before and at its
 * peak, what the attack was answered with, and how long honest requests took meanwhile (one every 20 ms). Writes
 * results/flood.md.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as connectTcp, type Socket as TcpSocket } from 'node:net';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { io, type Socket } from 'socket.io-client';
import { OwnerSession } from '../client/owner.js';
import { CoordinatorApi } from '../protocol/api.js';
import type { NonceView } from '../protocol/rest.js';
import { signIn } from '../protocol/sign-in.js';
import { writeBombs } from '../test/helpers/bombs.js';
import { machine, rssMiB } from './lib/machine.js';
import { startCoordinatorProcess } from './lib/processes.js';

const connections = 200;
const malformedPerConnection = 50;
const requests = 5000;
/** Each attack runs this many times in a row, so memory that grows from one to the next shows. */
const repeats = 3;
const oversizedConnections = 6;
const oversizedBytes = 100 * 2 ** 20;

const dir = mkdtempSync(join(tmpdir(), 'zkfl-flood-'));
const { child, url } = await startCoordinatorProcess(join(dir, 'coordinator'));
const pid = child.pid!;
// Attacker and coordinator share this machine's cores: the attacker (this process) runs at the lowest priority, as
// if from another machine, the coordinator and the honest requests (lib/prober.ts) at the normal one.
setPriority(19);
const { host, hostname, port } = new URL(url);
// Raw requests from chosen loopback addresses for the hostile traffic (meant to fail), the typed client for the rest.
const api = new CoordinatorApi(url);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resident memory of the coordinator and every process under it (the data reader among them), in MiB. */
function treeRssMiB(root: number): number {
  const children = (id: number): number[] =>
    readdirSync(`/proc/${id}/task`).flatMap((thread) =>
      readFileSync(`/proc/${id}/task/${thread}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  let total = 0;
  for (const queue = [root]; queue.length > 0;) {
    const id = queue.pop()!;
    try {
      // A child that just exited has no VmRSS any more.
      total += rssMiB(id) || 0;
      queue.push(...children(id));
    } catch {
      // It exited while being counted.
    }
  }
  return total;
}

interface Outcome {
  attack: string;
  rssBefore: number;
  rssPeak: number;
  /** The coordinator's process alone, without the children it parses data in: before, and its peak. */
  ownBefore: number;
  ownPeak: number;
  honest: number[];
  /** Honest requests that got no answer. */
  honestFailed: number;
  answers: Map<string, number>;
}

/** Runs `attack` while sampling memory and timing honest requests; answers what both showed. */
async function measure(attack: string, run: (count: (what: string) => void) => Promise<void>): Promise<Outcome> {
  const outcome: Outcome = {
    ownBefore: rssMiB(pid),
    ownPeak: 0,
    attack,
    rssBefore: treeRssMiB(pid),
    rssPeak: 0,
    honest: [],
    honestFailed: 0,
    answers: new Map(),
  };
  const count = (what: string): void => void outcome.answers.set(what, (outcome.answers.get(what) ?? 0) + 1);
  let running = true;
  const sampler = (async () => {
    while (running) {
      outcome.rssPeak = Math.max(outcome.rssPeak, treeRssMiB(pid));
      outcome.ownPeak = Math.max(outcome.ownPeak, rssMiB(pid));
      await sleep(20);
    }
  })();
  const prober = fork(new URL('./lib/prober.ts', import.meta.url), [api.url('tasks')]);
  const probed = new Promise<{ times: number[]; unanswered: number }>((resolve) => prober.once('message', resolve));
  for (let i = 1; i <= repeats; i++) {
    process.stderr.write(`${attack}: ${i} of ${repeats}\n`);
    await run(count);
  }

  running = false;
  prober.send('stop');
  const { times, unanswered } = await probed;
  await sampler;
  // The connections the attack left open close once idle past the server's keep-alive (5 s): the next attack
  // starts from none, under the per-IP limits.
  await sleep(6000);
  return { ...outcome, honest: times, honestFailed: unanswered };
}

/** Addresses the sign-in burst comes from, as a botnet's would: each under the per-IP limits. */
const botnet = Array.from({ length: 10 }, (_, i) => `127.0.1.${i + 1}`);

/**
 * Sends a request from the loopback address `from` on a connection of its own; answers the status and the JSON body
 * (status 0: the connection was closed unanswered; body null: none, or cut off).
 */
function requestFrom(
  from: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve) => {
    const sent = httpRequest(
      url,
      { method: init.method ?? 'GET', headers: init.headers, localAddress: from, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('error', () => resolve({ status: response.statusCode!, body: null }));
        response.once('end', () => {
          let body: unknown = null;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString());
          } catch {
            // Cut off, or not JSON.
          }
          resolve({ status: response.statusCode!, body });
        });
      },
    );
    sent.once('error', () => resolve({ status: 0, body: null }));
    sent.end(init.body);
  });
}

async function signedInSocket(from: string, count: (what: string) => void): Promise<Socket | undefined> {
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  const nonce = await requestFrom(from, api.url('nonce'));
  if (nonce.status !== 200) return void count(`nonce ${nonce.status || 'connection closed'}`);
  // engine.io passes localAddress on to its websocket, though its types do not name it.
  const options = {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    auth: await signIn(wallet, url, nonce.body as NonceView),
    localAddress: from,
  };
  const socket = io(url, options as Parameters<typeof io>[1]);
  return new Promise((resolve) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error: Error & { data?: { code: string } }) => {
      count(`connection refused ${error.data?.code ?? error.message}`);
      resolve(undefined);
    });
  });
}

/** Many connections sending malformed events until they are dropped. */
async function malformedBurst(count: (what: string) => void): Promise<void> {
  const opened = await Promise.all(
    Array.from({ length: connections }, (_, i) => signedInSocket(botnet[i % botnet.length]!, count)),
  );
  const sockets = opened.filter((socket) => socket !== undefined);
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
async function requestStorm(token: string, from: string[], count: (what: string) => void): Promise<void> {
  const huge = {
    model: { preset: 'mlp', hidden: [20000, 20000] },
    inputShape: [784],
    rounds: 1,
    clientsPerRound: { min: 1, target: 1 },
    evaluation: { upload: 'a'.repeat(64) },
  };
  const json = { 'content-type': 'application/json' };
  const send = (i: number): Promise<{ status: number; body: unknown }> => {
    const address = from[i % from.length]!;
    const kind = i % 4;
    if (kind === 0) return requestFrom(address, api.url('nonce'));
    if (kind === 1) {
      const body = JSON.stringify({ message: 'x'.repeat(1000), signature: '0x00' });
      return requestFrom(address, api.url('session'), { method: 'POST', headers: json, body });
    }
    const headers = kind === 2 ? { ...json, authorization: `Bearer ${token}` } : json;
    return requestFrom(address, api.url('createTask'), { method: 'POST', headers, body: JSON.stringify(huge) });
  };
  // All sent at once; each answer counted as it comes (a connection the coordinator closed is an answer too).
  const answers = Array.from({ length: requests }, (_, i) =>
    send(i).then(({ status, body }) =>
      status === 0
        ? 'connection closed unanswered'
        : `HTTP ${status} ${body === null ? 'body cut off' : ((body as { code?: string }).code ?? 'ok')}`,
    ),
  );
  for (const answer of await Promise.all(answers)) count(answer);
}

/** Uploads a bomb as its owner; counts how it was refused. */
async function uploadBomb(owner: OwnerSession, path: string, count: (what: string) => void): Promise<void> {
  await owner.upload(path).then(
    () => count('uploaded'),
    (error: { code?: string }) => count(`refused ${error.code}`),
  );
}

/**
 * Opens a raw TCP connection, sends `head`, then streams `oversizedBytes` of zeros until the coordinator closes
 * it; counts how far it got.
 */
function streamUntilClosed(head: string | Buffer, count: (what: string) => void, what: string): Promise<void> {
  return new Promise((resolve) => {
    const socket: TcpSocket = connectTcp(Number(port), hostname);
    const chunk = Buffer.alloc(2 ** 20);
    let sent = 0;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      count(`${what}: closed after ${sent < 2 ** 20 ? '< 1' : Math.floor(sent / 2 ** 20)} MiB sent`);
      socket.destroy();
      resolve();
    };
    socket.once('close', finish);
    socket.once('error', () => undefined);
    socket.once('connect', () => {
      socket.write(head);
      const pump = (): void => {
        while (sent < oversizedBytes && !socket.destroyed) {
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
        if (sent >= oversizedBytes) setTimeout(finish, 1000);
      };
      pump();
    });
  });
}

/** A websocket upgrade before any sign-in, then one frame announcing `oversizedBytes` (mask 0: sent as is). */
function oversizedFrame(count: (what: string) => void): Promise<void> {
  const upgrade =
    `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  const frame = Buffer.alloc(14);
  frame[0] = 0x82;
  frame[1] = 0x80 | 127;
  frame.writeBigUInt64BE(BigInt(oversizedBytes), 2);
  return streamUntilClosed(Buffer.concat([Buffer.from(upgrade), frame]), count, 'websocket frame');
}

/** A polling handshake before any sign-in, then a POST body of `oversizedBytes`. */
async function oversizedPoll(count: (what: string) => void): Promise<void> {
  const response = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
  const handshake = await response.text();
  if (response.status !== 200) return count(`polling handshake: HTTP ${response.status} ${handshake}`);
  const sid = (JSON.parse(handshake.slice(1)) as { sid: string }).sid;
  const post =
    `POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: ${host}\r\n` +
    `Content-Type: text/plain\r\nContent-Length: ${oversizedBytes}\r\n\r\n`;
  return streamUntilClosed(post, count, 'polling body');
}

const inParallel =
  (attack: (count: (what: string) => void) => Promise<void>) =>
  async (count: (what: string) => void): Promise<void> => {
    await Promise.all(Array.from({ length: oversizedConnections }, () => attack(count)));
  };

const quantile = (values: number[], q: number): number =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))] ?? Number.NaN;

function report(outcomes: Outcome[], idle: number, after: number): string {
  const table = [
    '| attack (each 3 times in a row) | RSS before (MiB) | peak RSS (MiB) | growth (MiB) | growth of the coordinator process alone (MiB) | honest requests (unanswered) | p50 (ms) | p99 (ms) | slowest (ms) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...outcomes.map(
      ({ attack, rssBefore, rssPeak, ownBefore, ownPeak, honest, honestFailed }) =>
        `| ${attack} | ${rssBefore.toFixed(0)} | ${rssPeak.toFixed(0)} | ${(rssPeak - rssBefore).toFixed(0)} | ` +
        `${(ownPeak - ownBefore).toFixed(0)} | ` +
        `${honest.length} (${honestFailed}) | ${quantile(honest, 0.5).toFixed(1)} | ${quantile(honest, 0.99).toFixed(1)} | ` +
        `${Math.max(...honest).toFixed(1)} |`,
    ),
  ].join('\n');
  const answers = outcomes.map(
    ({ attack, answers }) =>
      `- ${attack}: ${[...answers]
        .sort()
        .map(([what, n]) => `${what} × ${n}`)
        .join('; ')}`,
  );
  return (
    `Machine: ${machine()}. Default limits. The attacker sends from 127.0.0.1 (so the per-IP limits are what trip ` +
    `first), but the sign-in burst from ${botnet.length} addresses (${botnet[0]}–${botnet.at(-1)}) under those ` +
    `limits, as a botnet would; honest requests come from 127.0.0.2 on a kept-alive connection. RSS is the coordinator's and its children's (the data reader parses uploads in one); honest requests ` +
    `are GET /api/tasks, one every 20 ms during each attack. Idle before: ${idle.toFixed(0)} MiB; 5 s after the ` +
    `last attack: ${after.toFixed(0)} MiB.\n\n${table}\n\nWhat each attack was answered with, in all:\n\n` +
    `${answers.join('\n')}\n`
  );
}

try {
  await sleep(1000);
  const idle = treeRssMiB(pid);
  const owner = await OwnerSession.open(url, Wallet.createRandom());
  const bombs = writeBombs(join(dir, 'bombs'));
  // The bombs first: the storm's task creations use up the hour's creations (uploads among them) for this IP.
  const outcomes = [
    await measure('gzip CSV bomb upload (100 KiB → 48M values)', (count) => uploadBomb(owner, bombs.csv, count)),
    await measure('IDX bomb upload (header: 60,000 × 4096 × 4096)', (count) => uploadBomb(owner, bombs.idx, count)),
    await measure(
      `${connections} connections from ${botnet.length} addresses × ${malformedPerConnection} malformed events`,
      malformedBurst,
    ),
    await measure(`${requests} hostile requests`, (count) => requestStorm(owner.session.token, ['127.0.0.1'], count)),
    await measure(`${requests} hostile requests from ${botnet.length} addresses`, (count) =>
      requestStorm(owner.session.token, botnet, count),
    ),
    await measure(`${oversizedConnections} × 100 MiB websocket frames, unauthenticated`, inParallel(oversizedFrame)),
    await measure(`${oversizedConnections} × 100 MiB polling bodies, unauthenticated`, inParallel(oversizedPoll)),
  ];
  await sleep(5000);
  const text = report(outcomes, idle, treeRssMiB(pid));
  writeFileSync(new URL('./results/flood.md', import.meta.url), text);
  process.stdout.write(text);
} finally {
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
