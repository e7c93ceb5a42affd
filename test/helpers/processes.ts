/** Real coordinator and client processes, started through the `zkfl` command as users start them. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ClientEvent } from '../../client/client.js';
import { stopAfter } from './cleanup.js';
import { dataRoot } from './fixtures.js';
import { eventually } from './rest.js';

const cli = fileURLToPath(new URL('../../bin/zkfl.js', import.meta.url));

export interface Spawned {
  child: ChildProcess;
  stderr: string[];
  exited: Promise<number | null>;
  /** Resolves with the first stderr line matching `pattern` (one already printed included). */
  waitForLine(pattern: RegExp): Promise<string>;
}

export function spawnZkfl(args: string[], env: Record<string, string> = {}): Spawned {
  const child = spawn(process.execPath, [cli, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  // Stopped at the end of the test that started it, as a user stops it (SIGTERM: a coordinator or a chain stops
  // what it started itself), then killed if it did not exit; a process the test froze is woken to hear it.
  stopAfter('test', async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    child.kill('SIGCONT');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(killer);
  });
  const stderr: string[] = [];
  const lines = createInterface({ input: child.stderr });
  lines.on('line', (line) => stderr.push(line));
  const waitForLine = (pattern: RegExp): Promise<string> => {
    const seen = stderr.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const onLine = (line: string): void => {
        if (!pattern.test(line)) return;
        lines.off('line', onLine);
        resolve(line);
      };
      lines.on('line', onLine);
      child.once('exit', (code) => reject(new Error(`exited (${code}) before printing ${pattern}`)));
    });
  };
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr, exited, waitForLine };
}

/** Runs `zkfl …` to its end: exit code, stdout (trimmed) and stderr. */
export async function runZkfl(
  args: string[],
  env: Record<string, string> = {},
): Promise<[number | null, string, string]> {
  const spawned = spawnZkfl(args, env);
  let stdout = '';
  spawned.child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await spawned.exited;
  return [code, stdout.trim(), spawned.stderr.join('\n')];
}

export interface CoordinatorProcess extends Spawned {
  url: string;
  port: number;
}

/** A coordinator process naming evaluation sets under the tests' data root; `extra`: more of its options. */
export async function spawnCoordinator(dataDir: string, port = 0, extra: string[] = []): Promise<CoordinatorProcess> {
  const spawned = spawnZkfl([
    'coordinator',
    '--port',
    String(port),
    '--data-dir',
    dataDir,
    '--data-root',
    dataRoot,
    // Before the default level: the first --log-level counts.
    ...extra,
    '--log-level',
    'warn',
  ]);
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: spawned.child.stdout! }).on('line', (line) => {
      const match = /^listening (http:\/\/\S+)$/.exec(line);
      if (match) resolve(match[1]!);
    });
    void spawned.exited.then((code) => reject(new Error(`coordinator exited (${code}): ${spawned.stderr.join('\n')}`)));
  });
  return { ...spawned, url, port: Number(new URL(url).port) };
}

/** A `zkfl worker` verifying proofs from the queue in Redis, once it says so. */
export async function spawnWorker(
  redisUrl: string,
  lockSeconds = 10,
  env: Record<string, string> = {},
): Promise<Spawned> {
  const worker = spawnZkfl(['worker', '--redis', redisUrl, '--lock-seconds', String(lockSeconds)], env);
  await eventually(
    () => Promise.resolve(worker.stderr.some((line) => line.startsWith('verifying proofs')) ? true : undefined),
    'the worker to start',
  );
  return worker;
}

export interface ClientProcess extends Spawned {
  events: ClientEvent[];
  /** Resolves with the first event that satisfies `predicate` (including one already seen). */
  waitFor(predicate: (event: ClientEvent) => boolean): Promise<ClientEvent>;
}

export function spawnClient(url: string, taskId: string, dataPath: string, keyPath: string): ClientProcess {
  const spawned = spawnZkfl([
    'client',
    '--coordinator',
    url,
    '--task',
    taskId,
    '--data',
    dataPath,
    '--key',
    keyPath,
    '--accept-terms',
    '--progress',
    'json',
  ]);
  const events: ClientEvent[] = [];
  const waiters: Array<{ predicate: (event: ClientEvent) => boolean; resolve: (event: ClientEvent) => void }> = [];
  createInterface({ input: spawned.child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as ClientEvent;
    events.push(event);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(event)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  });
  return {
    ...spawned,
    events,
    waitFor: (predicate) => {
      const seen = events.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
  };
}
