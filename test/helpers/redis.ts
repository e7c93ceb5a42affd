/**
 * A real Redis for tests: Debian's redis-server (apt-get install redis-server) on a free loopback port, without
 * persistence, in a temporary directory; stopped and deleted afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopAfter } from './cleanup.js';
import { freePort } from './ports.js';

const binary = process.env.ZKFL_REDIS_SERVER ?? '/usr/bin/redis-server';

function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
  });
}

export interface Redis {
  url: string;
  /** Stops the server (its data goes with it: no persistence) and starts a fresh one on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<Redis> {
  if (!existsSync(binary)) throw new Error(`no redis-server at ${binary}: apt-get install -y redis-server`);
  const dir = mkdtempSync(join(tmpdir(), 'zkfl-redis-'));
  const port = await freePort();
  let server: ChildProcess;
  const start = async (): Promise<void> => {
    server = spawn(
      binary,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    );
    for (let tries = 0; !(await pong(port)); tries++) {
      if (tries > 100) throw new Error('redis-server did not start');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const halt = async (): Promise<void> => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  };
  const stop = stopAfter('file', async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  });
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    restart: async () => {
      await halt();
      await start();
    },
    stop: async () => void (await stop()),
  };
}
