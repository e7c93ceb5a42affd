/**
 * `zkfl`: a thin shell over the libraries — parse arguments, call, print. Each command is a module of its own in
 * commands/ (its help lines beside it), sharing the flag checks of args.ts. Output meant for machines goes to stdout;
 * logs and progress go to stderr.
 */
import { setKeystoreCost } from '../common/identity.js';
import { isLogLevel, setLogLevel } from '../common/log.js';
import { ZkflError } from '../common/errors.js';

/** A command: its lines of the help, and what it runs. */
interface Command {
  usage: string;
  run: (args: string[]) => Promise<void> | void;
}

/**
 * The commands, in the order the help lists them, each loaded only when asked for: a command loads what it needs
 * (a client, say, none of the coordinator's database, queue or chain code), which makes it start seconds sooner.
 */
const commands: Record<string, () => Promise<Command>> = {
  key: () => import('./commands/key.js'),
  setup: () => import('./commands/setup.js'),
  chain: () => import('./commands/chain.js'),
  coordinator: () => import('./commands/coordinator.js'),
  worker: () => import('./commands/worker.js'),
  task: () => import('./commands/task.js'),
  client: () => import('./commands/client.js'),
  demo: () => import('./commands/demo.js'),
  audit: () => import('./commands/audit.js'),
  verify: () => import('./commands/verify.js'),
};

const notes = `CHAIN is --rpc URL --deployment FILE: where tasks created with "onchain": true settle ("zkfl chain" starts a local
one and writes its deployment file; --fund gives the accounts named ETH for gas and reward tokens). "task create
--escrow" escrows the spec's rewards.perRound × rounds from the key's account. A client shows the task's terms and
trains only after you agree (--accept-terms agrees without asking, for unattended runs). A coordinator's
--public-rpc URL is the chain endpoint its contributor page claims through (never an --rpc URL carrying an API key).

"task create" signs in as the owner of --key (Sign-In with Ethereum) and uploads --evaluation (a CSV file, an IDX
prefix or a directory) as the task's evaluation set; without it, the spec's evaluation.path names data under the
coordinator's --data-root. A coordinator started with --owners takes tasks from those addresses only; without it,
from anyone who signs in, up to 5 running tasks each.

Keys (--key) are encrypted keystores unlocked by --password-file FILE or ZKFL_PASSWORD; a key created where
none exists is encrypted with that password, or stored plaintext (with a warning) without one.
Every command takes --log-level debug|info|warn|error|silent (default info, or ZKFL_LOG_LEVEL).
--ptau defaults to ZKFL_PTAU; without either, setup downloads the public Hermez file or runs a dev ceremony.
--coordinator defaults to ZKFL_COORDINATOR or http://127.0.0.1:8080.`;

/** The whole help: every command's lines (which loads them all), then the notes. */
async function usage(): Promise<string> {
  const loaded = await Promise.all(Object.values(commands).map((load) => load()));
  return [
    'zkfl — federated learning with proofs of every contribution',
    '',
    ...loaded.map((command) => command.usage),
    '',
    notes,
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  const levelIndex = args.indexOf('--log-level');
  const level = levelIndex >= 0 ? args[levelIndex + 1] : process.env.ZKFL_LOG_LEVEL;
  if (level !== undefined) {
    if (!isLogLevel(level)) throw new ZkflError('VALIDATION_FAILED', `unknown log level ${level}`, 'log-level');
    setLogLevel(level);
  }
  if (process.env.ZKFL_KEYSTORE_LOG_N !== undefined) setKeystoreCost(Number(process.env.ZKFL_KEYSTORE_LOG_N));
  const load = name === undefined ? undefined : commands[name];
  if (!load) {
    process.stdout.write((await usage()) + '\n');
    if (name !== undefined && name !== '--help' && name !== '-h') process.exitCode = 2;
    return;
  }
  const command = await load();
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${command.usage}\n\n${notes}\n`);
    return;
  }
  await command.run(args);
}

main(process.argv.slice(2)).catch(async (error: unknown) => {
  const argumentError = (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  if (error instanceof ZkflError) process.stderr.write(`zkfl: ${error.code}: ${error.message}\n`);
  else if (argumentError) process.stderr.write(`zkfl: ${(error as Error).message}\n\n${await usage()}\n`);
  else process.stderr.write(`zkfl: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
