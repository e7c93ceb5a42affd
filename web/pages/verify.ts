/**
 * "Verify this run": the task's audit bundle fetched, then checked in a Web Worker by the project's own audit code
 * (web/workers/verify-worker.ts), with progress, the verdict, every problem named, and the per-round table
 * `zkfl verify` prints. Loaded only when a verifier opens the page.
 */
import type { CoordinatorApi } from '../../protocol/api.js';
import type { AuditReport } from '../../verifier/audit.js';
import { privacySentence } from '../../verifier/privacy-audit.js';
import { h, table, tokens } from '../dom.js';
import type { VerifyMessage } from '../workers/verify-worker.js';

/** Starts verifying task `id` into `page`; the returned function stops it (the visitor left the page). */
export function verifyRun(api: CoordinatorApi, id: string, page: HTMLElement): () => void {
  const state = h('p', { role: 'status' }, 'Fetching the audit bundle…');
  const bar = h('progress', { max: '1', value: '0', 'aria-label': 'proofs verified' });
  const result = h('div');
  page.replaceChildren(
    h('h1', {}, 'Verify ', h('a', { href: `#/tasks/${encodeURIComponent(id)}` }, id)),
    h(
      'p',
      {},
      'Your browser checks this run as ',
      h('code', {}, 'zkfl verify --bundle'),
      ' does: the coordinator’s signature on every round record and the chain of model hashes, every accepted ' +
        'update’s Groth16 proofs (snarkjs, here), statements and commitments, every contributor’s consent to the ' +
        'terms, and every amount against the reward rule. It trusts only the math: the coordinator serves the ' +
        'bundle and nothing else. The on-chain records are checked by ',
      h('code', {}, 'zkfl verify --rpc'),
      '.',
    ),
    state,
    bar,
    result,
  );
  const worker = new Worker(new URL('assets/verify-worker.js', window.location.href), { type: 'module' });
  const started = performance.now();
  const fail = (message: string): void => {
    state.textContent = `Could not verify: ${message}`;
    state.setAttribute('class', 'error');
    bar.remove();
    worker.terminate();
  };
  worker.onmessage = ({ data }: MessageEvent<VerifyMessage>) => {
    if (data.type === 'progress') {
      bar.setAttribute('max', String(data.total));
      bar.setAttribute('value', String(data.done));
      state.textContent = `Verifying proofs: ${data.done} of ${data.total}`;
    } else if (data.type === 'error') {
      fail(data.message);
    } else {
      bar.remove();
      const seconds = (performance.now() - started) / 1000;
      state.textContent = `Checked in ${seconds.toFixed(1)} s (proofs: ${data.report.proofs.perSecond.toFixed(1)} per second).`;
      result.replaceChildren(...verdict(data.report).filter((part) => part !== null));
      worker.terminate();
    }
  };
  worker.onerror = (event) => fail(event.message);
  api.audit(id).then(
    (bundle) => {
      state.textContent = `Checking ${bundle.rounds.length} round record(s)…`;
      worker.postMessage(bundle);
    },
    (error: unknown) => fail((error as Error).message),
  );
  return () => worker.terminate();
}

/** The verdict, the problems by round and kind, and the per-round table. */
function verdict(report: AuditReport): Array<HTMLElement | null> {
  const proofs = `${report.proofs.verified} proof(s)`;
  const scores = {
    signed: 'Scores are the coordinator’s signed word: the updates are private (SECURITY.md says what still holds).',
    recomputed: 'Every score was computed again from the published updates.',
    'not-recomputed':
      'The updates are published: zkfl verify recomputes every aggregate and score from them; this page does not.',
  }[report.scores];
  return [
    h(
      'p',
      {
        class: `verdict ${report.ok ? 'ok' : 'failed'}`,
        'data-verdict': report.ok ? 'ok' : 'failed',
        'data-proof-seconds': String(report.proofs.seconds),
      },
      report.ok
        ? `Verified: ${report.rounds.length} round(s), ${proofs}, no problems.`
        : `${report.problems.length} problem(s) found in ${report.rounds.length} round(s) and ${proofs}.`,
    ),
    report.problems.length === 0
      ? null
      : table(
          ['round', 'problem', 'detail'],
          report.problems.map((problem) => [problem.round ?? 'task', problem.kind, problem.detail]),
        ),
    h('p', { class: 'muted' }, scores),
    report.privacy ? h('p', { class: 'muted' }, privacySentence(report.privacy)) : null,
    table(
      ['round', 'accepted', 'rejected', 'proofs verified', 'model after', 'owed (ZKR)'],
      report.rounds.map((round) => [
        round.round,
        round.accepted,
        round.rejected,
        round.proofsVerified,
        h('span', { title: round.modelHashAfter }, round.modelHashAfter.slice(0, 12)),
        tokens(BigInt(round.owed)),
      ]),
      [0, 1, 2, 3, 5],
    ),
  ];
}
