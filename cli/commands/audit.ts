/** `zkfl audit`. */
import { ZkflError } from '../../common/errors.js';
import { fetchBundle, writeBundle } from '../../verifier/bundle.js';
import { coordinatorUrl, parse, required } from '../args.js';

/** This command's lines of `zkfl --help`. */
export const usage = `  zkfl audit export --task ID --out DIR [--coordinator URL]`;

/** `zkfl audit export`: a task's audit bundle from the coordinator's public API, into a directory. */
export async function run(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const values = parse(rest, { coordinator: { type: 'string' }, task: { type: 'string' }, out: { type: 'string' } });
  if (sub !== 'export') throw new ZkflError('VALIDATION_FAILED', 'usage: zkfl audit export --task ID --out DIR');
  const bundle = await fetchBundle(coordinatorUrl(values), required(values, 'task'));
  const out = required(values, 'out');
  writeBundle(out, bundle);
  process.stdout.write(`${out}\n`);
  process.stderr.write(`${bundle.rounds.length} signed round records of ${bundle.task.id}\n`);
}
