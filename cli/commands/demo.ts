/** `zkfl demo`. */
import type { ClientEvent } from '../../client/client.js';
import { formatEther } from 'ethers';
import { type DemoModel, demoModels, type DemoResult, runDemo } from '../../demo/demo.js';
import { defaultFashionMnistDir } from '../../demo/fashion-mnist.js';
import { ZkflError } from '../../common/errors.js';
import { integer, parse } from '../args.js';
import { fixed, percent, ProgressDisplay, table } from '../render.js';

/** This command's lines of `zkfl --help`. */
export const usage = `  zkfl demo [--model demo-cnn|niid-cnn] [--clients N] [--rounds R] [--alpha A] [--seed S] [--audit-out DIR] [--json]
            [--serve]`;

/** Per participant of a demo: its scores and amounts summed over rounds, and its token balance (to the cent: the
 * JSON output has them exact). */
function participantRows(result: DemoResult): Array<Array<string | number>> {
  const addresses = [...new Set(result.rounds.flatMap((round) => Object.keys(round.scores)))].sort();
  const cents = (tokens: string): string => Number(tokens).toFixed(2);
  return addresses.map((address) => [
    address,
    result.rounds.reduce((sum, round) => sum + (round.scores[address] ?? 0), 0).toFixed(5),
    cents(formatEther(result.rounds.reduce((sum, round) => sum + BigInt(round.amounts[address] ?? '0'), 0n))),
    result.rewards?.[address] === undefined ? '-' : cents(result.rewards[address]),
  ]);
}

/** The demo's tables (or its JSON). */
function printDemo(result: DemoResult, json: boolean): void {
  if (json) {
    const { rounds, rewards, settlement } = result;
    process.stdout.write(
      JSON.stringify({ rounds, ...(rewards ? { rewards } : {}), ...(settlement ? { settlement } : {}) }) + '\n',
    );
  } else {
    process.stdout.write(
      '\n' +
        table(
          [
            'round',
            'accuracy',
            'loss',
            'participants',
            'rejected',
            'proofs verified',
            'proofs rejected',
            'proving s/client',
            'paid on-chain',
          ],
          result.rounds.map((round) => [
            round.round,
            percent(round.accuracy),
            fixed(round.loss),
            round.participants,
            round.rejected,
            round.proofsVerified,
            round.proofsRejected,
            round.provingSeconds === undefined ? '-' : round.provingSeconds.toFixed(1),
            round.paidOnchain ?? '-',
          ]),
        ) +
        '\n\n' +
        table(
          ['participant', 'score (sum over rounds)', 'earned (ZKR)', 'reward balance (ZKR)'],
          participantRows(result),
        ) +
        (result.settlement
          ? `\n\nsettlement: ${result.settlement.gasPerContributorPerRound.toFixed(0)} gas per contributor per round` +
            ` (claims), ${result.settlement.coordinatorGasPerRound.toFixed(0)} gas per round for the coordinator`
          : '') +
        `\n\ntask ${result.taskId} finished in ${result.seconds.toFixed(0)} s\n`,
    );
  }
}

export async function run(args: string[]): Promise<void> {
  const values = parse(args, {
    clients: { type: 'string' },
    rounds: { type: 'string' },
    alpha: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
    'audit-out': { type: 'string' },
    model: { type: 'string' },
    serve: { type: 'boolean' },
  });
  const alpha = values.alpha === undefined ? 0.5 : Number(values.alpha);
  if (!(alpha > 0)) throw new ZkflError('VALIDATION_FAILED', '--alpha must be a number > 0', 'alpha');
  const model = (values.model as string | undefined) ?? 'demo-cnn';
  if (!(demoModels as readonly string[]).includes(model)) {
    throw new ZkflError('VALIDATION_FAILED', `--model must be one of ${demoModels.join(', ')}`, 'model');
  }
  const display = new ProgressDisplay();
  try {
    const result = await runDemo({
      model: model as DemoModel,
      clients: integer(values, 'clients', 4),
      rounds: integer(values, 'rounds', 5),
      alpha,
      seed: integer(values, 'seed', 1, 0),
      dataDir: process.env.ZKFL_FASHION_MNIST ?? defaultFashionMnistDir,
      ptau: process.env.ZKFL_PTAU,
      ...(values['audit-out'] ? { auditOut: values['audit-out'] as string } : {}),
      ...(values.serve
        ? {
            onResult: async (result: DemoResult) => {
              display.stop();
              printDemo(result, values.json === true);
              process.stderr.write(`\ndashboard: ${result.dashboardUrl} (Ctrl-C to stop)\n`);
              // The demo's task has ended; one created from the dashboard (#/new) takes contributors from a browser.
              const base = result.dashboardUrl.slice(0, result.dashboardUrl.indexOf('#'));
              process.stderr.write(`contribute from a browser: ${base}#/tasks/<running task>/contribute\n`);
              await new Promise((resolve) => process.once('SIGINT', resolve));
            },
          }
        : {}),
      onClientEvent: (client, event) => showClient(display, client, event),
      onRoundEnd: (summary) =>
        process.stderr.isTTY || values.json
          ? undefined
          : process.stderr.write(
              `round ${summary.round}: accuracy ${percent(summary.accuracy)}, ${summary.participants} participants\n`,
            ),
    });
    display.stop();
    if (!values.serve) printDemo(result, values.json === true);
  } finally {
    display.stop();
  }
}

/** A client's training, proving and verdict as its line of the progress display. */
function showClient(display: ProgressDisplay, client: number, event: ClientEvent): void {
  const [id, label] = [`c${client}`, `client ${client}`];
  if (event.type === 'training') {
    const { epoch, epochs, batch, batches } = event.progress;
    display.update(id, label, (epoch - 1) * batches + batch, epochs * batches, `round ${event.round} training`);
  } else if (event.type === 'proving') {
    display.update(id, label, event.done, event.total, `round ${event.round} proving ${event.done}/${event.total}`);
  } else if (event.type === 'submitted') {
    const verdict = event.accepted ? 'accepted' : `rejected: ${event.error?.code}`;
    display.update(id, label, 1, 1, `round ${event.round} ${verdict}`);
  }
}
