/** `zkfl verify`. */
import { formatEther } from 'ethers';
import { connectRpc } from '../../contracts/rpc.js';
import { fetchBundle, readBundle } from '../../verifier/bundle.js';
import type { AuditReport } from '../../verifier/audit.js';
import { privacySentence } from '../../verifier/privacy-audit.js';
import { auditRun } from '../../verifier/run.js';
import { chainFrom, chainOptions, coordinatorUrl, parse, required } from '../args.js';
import { ProgressDisplay, table } from '../render.js';

/** This command's lines of `zkfl --help`. */
export const usage = `  zkfl verify (--task ID [--coordinator URL] | --bundle DIR) [--rpc URL --deployment FILE] [--json]`;

/** `zkfl verify`: audits a run from a bundle or a coordinator, optionally against the chain; exit 0 only if clean. */
export async function run(args: string[]): Promise<void> {
  const values = parse(args, {
    coordinator: { type: 'string' },
    task: { type: 'string' },
    bundle: { type: 'string' },
    json: { type: 'boolean' },
    ...chainOptions,
  });
  const bundle =
    values.bundle !== undefined
      ? readBundle(values.bundle as string)
      : await fetchBundle(coordinatorUrl(values), required(values, 'task'));
  const chain = chainFrom(values);
  const display = values.json ? undefined : new ProgressDisplay();
  try {
    const report = await auditRun(bundle, {
      ...(chain
        ? { chain: { provider: connectRpc(chain.rpcUrl, chain.deployment.chainId), deployment: chain.deployment } }
        : {}),
      onProgress: (done, total) => display?.update('verify', 'proofs', done, total, `${done}/${total} verified`),
    });
    display?.stop();
    process.stdout.write(values.json ? JSON.stringify(report) + '\n' : reportText(report));
    if (!report.ok) process.exitCode = 1;
  } finally {
    display?.stop();
  }
}

const columns = [
  'round',
  'accepted',
  'rejected',
  'proofs verified',
  'model after',
  'owed (ZKR)',
  'paid on-chain (ZKR)',
  'challenges',
  'voided',
  'omission claims',
];

/** The report for a person: a table of rounds, what the scores rest on, each problem, and the verdict. */
function reportText(report: AuditReport): string {
  const rows = report.rounds.map((round) => [
    round.round,
    round.accepted,
    round.rejected,
    round.proofsVerified,
    round.modelHashAfter.slice(0, 12),
    formatEther(round.owed),
    round.onchain ? `${formatEther(round.onchain.paidAmount)} (${round.onchain.paid})` : '-',
    round.onchain?.challenges ?? '-',
    round.onchain?.voided ?? '-',
    round.onchain?.omissions ?? '-',
  ]);
  const scores =
    report.scores === 'recomputed'
      ? 'scores: recomputed from the published updates and scoring set\n'
      : "scores: the coordinator's signed word (updates are private). Checked: the scored updates are the proven," +
        ' accepted ones; amounts follow the reward rule from the scores; nobody is paid more than its leaf.\n';
  const problems = report.problems.map(
    (problem) => `${problem.round === null ? 'task' : `round ${problem.round}`}: ${problem.kind}: ${problem.detail}\n`,
  );
  const verdict =
    `${report.ok ? 'OK' : 'FAILED'}: ${report.taskId}, ${report.rounds.length} rounds, ${report.proofs.verified} proofs` +
    ` (${report.proofs.perSecond.toFixed(1)}/s), ${report.problems.length} problems` +
    `${report.chainChecked ? ', chain checked' : ', chain not checked (give --rpc and --deployment)'}\n`;
  const privacy = report.privacy ? `${privacySentence(report.privacy)}\n` : '';
  return `${table(columns, rows)}\n\n${scores}${privacy}${problems.join('')}${verdict}`;
}
