/** `zkfl client`. */
import { formatEther } from 'ethers';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { type ClientEvent, runClient } from '../../client/client.js';
import { type BackendName, backendNames } from '../../ml/backend.js';
import { ZkflError } from '../../common/errors.js';
import type { TermsView } from '../../protocol/terms.js';
import { chainFrom, chainOptions, coordinatorUrl, keyOptions, parse, password, required } from '../args.js';
import { renderTerms } from '../../protocol/terms-text.js';
import { ProgressDisplay } from '../render.js';

/** This command's lines of `zkfl --help`. */
export const usage = `  zkfl client --coordinator URL --task ID --data PATH [--key FILE] [--accept-terms] [--backend tensorflow|wasm|cpu]
              [--progress bar|json|none] [CHAIN]`;

/** Asks on the terminal whether the holder agrees to the terms (printed to stderr); `--accept-terms` says yes. */
async function askTerms(view: TermsView, accept: boolean): Promise<boolean> {
  process.stderr.write(renderTerms(view) + '\n');
  if (accept) {
    process.stderr.write('terms accepted (--accept-terms)\n');
    return true;
  }
  if (!process.stdin.isTTY) {
    throw new ZkflError('CONSENT_REQUIRED', 'not a terminal: read the terms above and run again with --accept-terms');
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question('Do you agree to these terms and take part? [y/N] ');
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}

export async function run(args: string[]): Promise<void> {
  const values = parse(args, {
    'accept-terms': { type: 'boolean' },
    coordinator: { type: 'string' },
    task: { type: 'string' },
    data: { type: 'string' },
    ...keyOptions,
    backend: { type: 'string' },
    progress: { type: 'string' },
    ...chainOptions,
  });
  const chain = chainFrom(values);
  const backend = values.backend as string | undefined;
  if (backend !== undefined && !(backendNames as readonly string[]).includes(backend)) {
    throw new ZkflError('VALIDATION_FAILED', `--backend must be one of ${backendNames.join(', ')}`, 'backend');
  }
  const progress = (values.progress as string | undefined) ?? 'bar';
  if (!['bar', 'json', 'none'].includes(progress))
    throw new ZkflError('VALIDATION_FAILED', '--progress must be bar, json or none', 'progress');
  const display = progress === 'bar' ? new ProgressDisplay() : undefined;
  const onEvent = (event: ClientEvent): void => {
    if (progress === 'json') process.stdout.write(JSON.stringify(event) + '\n');
    if (display) showProgress(display, event);
  };
  try {
    const result = await runClient({
      coordinatorUrl: coordinatorUrl(values),
      taskId: required(values, 'task'),
      dataPath: required(values, 'data'),
      keyPath: (values.key as string | undefined) ?? join(homedir(), '.zkfl', 'key.json'),
      ...(password(values) !== undefined ? { keyPassword: password(values) } : {}),
      backend: backend as BackendName | undefined,
      agreeToTerms: (view) => askTerms(view, values['accept-terms'] === true),
      onEvent,
      ...(chain ? { chain } : {}),
    });
    display?.stop();
    if (result.status !== 'completed') process.exitCode = 1;
    if (progress === 'json') {
      process.stdout.write(JSON.stringify({ type: 'summary', ...result }) + '\n');
    } else {
      const { rewards } = result;
      process.stdout.write(
        `task ${result.status}; ${result.roundsContributed} rounds contributed by ${result.address}` +
          (rewards
            ? `; claimed ${formatEther(rewards.claimed)} tokens (${rewards.owed} rounds still owed, ${rewards.omitted} left out)`
            : '') +
          (result.privacy
            ? `; privacy spent: ε ${result.privacy.epsilon.toFixed(3)} at δ ${result.privacy.delta} in this task,` +
              ` ε ${result.privacy.ledger.epsilon.toFixed(3)} at δ ${result.privacy.ledger.delta} in all your private tasks here (basic composition)`
            : '') +
          '\n',
      );
    }
  } finally {
    display?.stop();
  }
}

/** Training and proving as a progress bar. */
function showProgress(display: ProgressDisplay, event: ClientEvent): void {
  if (event.type === 'proving') {
    const detail = `proving chunk ${event.done}/${event.total}`;
    display.update('train', `round ${event.round}`, event.done, event.total, detail);
  }
  if (event.type === 'training') {
    const { epoch, epochs, batch, batches, loss } = event.progress;
    const detail = `epoch ${epoch}/${epochs} loss ${loss.toFixed(4)}`;
    display.update('train', `round ${event.round}`, (epoch - 1) * batches + batch, epochs * batches, detail);
  }
}
