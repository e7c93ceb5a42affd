/**
 * A real PostgreSQL for tests: Debian's server binaries (apt-get install postgresql), a throwaway cluster in a
 * temporary directory on a free loopback port, stopped and deleted afterwards. As root (CI), the server runs as
 * the `postgres` user, since PostgreSQL refuses to run as root.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { stopAfter } from './cleanup.js';
import { freePort } from './ports.js';

function serverBinaries(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const bin = process.env.ZKFL_PG_BIN ?? versions.map((version) => join(root, version, 'bin'))[0];
  if (!bin || !existsSync(join(bin, 'initdb'))) {
    throw new Error('no PostgreSQL server here: apt-get install -y postgresql (or set ZKFL_PG_BIN)');
  }
  return bin;
}

export interface Postgres {
  /** The URL of a fresh database `name` on this server (created here). */
  database(name: string): Promise<string>;
  /** Stops the server (fast shutdown) and starts it again on the same port and data. */
  restart(pauseMs?: number): Promise<void>;
  /** Stops the server (fast shutdown), keeping its port and data for `resume`. */
  halt(): Promise<void>;
  /** Starts a halted server again. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** How to run one of the server's binaries: as the `postgres` user when this process is root. */
type Runner = (command: string, args: string[]) => [string, string[]];

/** A new cluster's data directory, in a temporary directory the server may write to. */
function initCluster(bin: string): { dir: string; data: string; run: Runner } {
  const dir = mkdtempSync(join(tmpdir(), 'zkfl-pg-'));
  const asRoot = process.getuid?.() === 0;
  const run: Runner = (command, args) =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, command), ...args]] : [join(bin, command), args];
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  execFileSync(...run('initdb', ['-D', data, '-A', 'trust', '-U', 'zkfl', '--no-sync', '-E', 'UTF8']), {
    stdio: 'ignore',
  });
  return { dir, data, run };
}

/** Waits until a server that is starting takes connections. */
async function untilServing(admin: () => pg.Client): Promise<void> {
  for (let tries = 0; ; tries++) {
    const client = admin();
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (tries > 100) throw new Error(`PostgreSQL did not start: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export async function startPostgres(): Promise<Postgres> {
  const { dir, data, run } = initCluster(serverBinaries());
  const port = await freePort();
  let server: ChildProcess | undefined;
  const admin = (): pg.Client => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'zkfl', database: 'postgres' });
    // A server still starting up may drop the connection: untilServing retries.
    client.on('error', () => undefined);
    return client;
  };

  async function start(): Promise<void> {
    const options = ['-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'];
    server = spawn(...run('postgres', ['-D', data, '-p', String(port), ...options]), { stdio: 'ignore' });
    await untilServing(admin);
  }
  async function halt(): Promise<void> {
    const child = server;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Fast shutdown (open connections are closed), through pg_ctl: as root the server runs under runuser, which
    // would not pass a signal on.
    execFileSync(...run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']), { stdio: 'ignore' });
    await exited;
  }

  const stop = stopAfter('file', async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  });
  await start();
  return {
    async database(name) {
      const client = admin();
      await client.connect();
      await client.query(`CREATE DATABASE ${name}`);
      await client.end();
      return `postgres://zkfl@127.0.0.1:${port}/${name}`;
    },
    async restart(pauseMs = 0) {
      await halt();
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      await start();
    },
    halt,
    resume: start,
    stop: async () => void (await stop()),
  };
}
