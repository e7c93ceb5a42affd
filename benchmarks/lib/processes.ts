/** The real `zkfl` processes a benchmark drives. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../bin/zkfl.js', import.meta.url));

export function spawnZkfl(args: string[]): ChildProcess {
  return spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
}

export async function startCoordinatorProcess(
  dataDir: string,
  args: string[] = [],
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawnZkfl([
    'coordinator',
    '--port',
    '0',
    '--data-dir',
    dataDir,
    '--log-level',
    process.env.ZKFL_BENCH_LOG ?? 'warn',
    ...args,
  ]);
  // A benchmark that dies of an error it did not catch must not leave its coordinator running.
  process.once('exit', () => child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^listening (\S+)$/.exec(line);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`coordinator exited with ${code}`)));
  });
  return { child, url };
}

/** A `zkfl worker` on `redisUrl`, once it says (on stderr) that it listens to the queue. */
export async function startWorkerProcess(redisUrl: string): Promise<ChildProcess> {
  const worker = spawn(process.execPath, [cli, 'worker', '--redis', redisUrl, '--log-level', 'warn'], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  await once(createInterface({ input: worker.stderr }), 'line');
  return worker;
}
