/**
 * A task's page: its terms, plot and tables, re-rendered whenever the coordinator says the task moved (the public
 * `/watch` namespace says when; the typed API client fetches what changed).
 */
import { io, type Socket } from 'socket.io-client';
import uPlot from 'uplot';
import type { RoundView, SettlementView, TaskView } from '../../protocol/rest.js';
import type { PrivacyTerms, TermsView } from '../../protocol/terms.js';
import { holdersSummary } from '../../protocol/holders.js';
import {
  watchNamespace,
  type WatchClientToServerEvents,
  type WatchServerToClientEvents,
} from '../../protocol/watch.js';
import { api } from '../api.js';
import {
  fixed,
  h,
  holderLink,
  percent,
  roundOf,
  short,
  show,
  status,
  table,
  timeLeft,
  tokens,
  type Child,
} from '../dom.js';

/** Accuracy and loss per finished round; the container says how many points it plots (for tests and readers). */
function plot(rounds: RoundView[]): HTMLElement {
  const done = rounds.filter((round) => round.accuracy !== null);
  const container = h('figure', { class: 'plot', 'data-points': String(done.length) });
  container.append(h('figcaption', {}, 'Accuracy (left) and loss (right) on the owner’s evaluation set'));
  const width = Math.min(768, document.getElementById('app')!.clientWidth || 768);
  const data: uPlot.AlignedData = [
    done.map((round) => round.round),
    done.map((round) => round.accuracy! * 100),
    done.map((round) => round.loss),
  ];
  new uPlot(
    {
      width,
      height: 260,
      scales: { x: { time: false } },
      axes: [
        { label: 'round', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] },
        { label: 'accuracy %' },
        { side: 1, scale: 'loss', label: 'loss', grid: { show: false } },
      ],
      series: [
        { label: 'round' },
        { label: 'accuracy %', stroke: '#1f6feb', width: 2, points: { show: true } },
        { label: 'loss', scale: 'loss', stroke: '#d97706', width: 2, points: { show: true } },
      ],
    },
    data,
    container,
  );
  return container;
}

function roundsTable(task: TaskView, rounds: RoundView[]): HTMLElement {
  const model = (round: RoundView): Child =>
    round.modelHashAfter === null
      ? '–'
      : h('a', { href: api.url('modelJson', { id: task.id, which: round.round }) }, 'model.json');
  // A private task's rounds show the ε spent up to each.
  const privacy = task.spec.privacy !== undefined;
  return table(
    [
      'round',
      'phase',
      'accuracy',
      'loss',
      ...(privacy ? [`ε (δ ${task.spec.privacy!.delta})`] : []),
      'sampled',
      'answered',
      'dropped',
      'accepted',
      'rejected',
      'proofs verified',
      'proofs refused',
      'verification',
      'paid',
      'model',
    ],
    rounds.map((round) => [
      round.round,
      round.phase,
      percent(round.accuracy),
      fixed(round.loss),
      ...(privacy ? [round.epsilon === null ? '–' : round.epsilon.toFixed(3)] : []),
      round.sampled,
      round.answered,
      round.dropped ?? '–',
      round.participants.length,
      round.rejected.length + round.rejectedUnlisted,
      round.proofsVerified,
      round.proofsRejected,
      `${round.verifySeconds.toFixed(2)} s`,
      tokens(round.participants.reduce((sum, p) => sum + BigInt(p.amount ?? '0'), 0n)),
      model(round),
    ]),
    privacy ? [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13] : [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  );
}

function participantsTable(rounds: RoundView[]): HTMLElement {
  const byAddress = new Map<string, { rounds: number; score: number; amount: bigint; rejected: number }>();
  const entry = (address: string) => {
    const known = byAddress.get(address) ?? { rounds: 0, score: 0, amount: 0n, rejected: 0 };
    byAddress.set(address, known);
    return known;
  };
  for (const round of rounds) {
    for (const participant of round.participants) {
      const known = entry(participant.address);
      known.rounds += 1;
      known.score += participant.score ?? 0;
      known.amount += BigInt(participant.amount ?? '0');
    }
    for (const rejection of round.rejected) entry(rejection.address).rejected += 1;
  }
  return table(
    ['address', 'rounds contributed', 'score (sum)', 'earned', 'rejections'],
    [...byAddress].map(([address, known]) => [
      holderLink(address),
      known.rounds,
      known.score.toFixed(5),
      tokens(known.amount),
      known.rejected,
    ]),
    [1, 2, 3, 4],
  );
}

/** What rounds waited for, or why they ended as they did, when that was not their usual course. */
function roundNotes(rounds: RoundView[]): HTMLElement | null {
  const items = rounds.filter((round) => round.note).map((round) => h('li', {}, `round ${round.round}: ${round.note}`));
  return items.length === 0 ? null : h('div', { class: 'notes' }, h('h2', {}, 'Round notes'), h('ul', {}, ...items));
}

function rejectionsList(rounds: RoundView[]): HTMLElement | null {
  const items = rounds.flatMap((round) => [
    ...round.rejected.map((r) => h('li', {}, `round ${round.round}: ${short(r.address)} ${r.code} — ${r.reason}`)),
    ...(round.rejectedUnlisted > 0 ? [h('li', {}, `round ${round.round}: ${round.rejectedUnlisted} more`)] : []),
  ]);
  return items.length === 0 ? null : h('div', {}, h('h2', {}, 'Rejected updates'), h('ul', {}, ...items));
}

/** The coordinator's transactions, round by round: what it opened, closed and answered on-chain. */
function settlementTable(settlement: SettlementView): HTMLElement {
  const hash = (txHash: string | null): Child =>
    txHash === null ? '–' : h('span', { title: txHash }, `${txHash.slice(0, 18)}…`);
  return h(
    'div',
    {},
    h('h2', {}, 'Settlement on-chain'),
    h('h3', {}, 'The coordinator’s transactions'),
    table(
      ['round', 'transaction', 'status', 'hash', 'attempts'],
      settlement.actions.map((action) => [
        action.round,
        action.subject ? `${action.kind} ${action.subject}` : action.kind,
        action.status,
        hash(action.txHash),
        action.attempts,
      ]),
      [0, 4],
    ),
    h('h3', {}, 'Everyone else’s: escrow, claims, disputes'),
    settlement.events.length === 0
      ? h('p', { class: 'muted' }, 'Nothing yet.')
      : table(
          ['block', 'round', 'event', 'by or for', 'amount', 'hash'],
          settlement.events.map((event) => [
            event.block,
            event.round ?? '–',
            event.kind,
            /^0x[0-9a-fA-F]{40}$/.test(event.subject) ? holderLink(event.subject) : event.subject,
            event.amount === null ? '–' : tokens(BigInt(event.amount)),
            hash(event.txHash),
          ]),
          [0, 1, 4],
        ),
  );
}

/** A robust rule, as the terms name it. */
function robustSummary(robust: NonNullable<TermsView['terms']['weights']['robust']>): string {
  if (robust.rule === 'median') return 'coordinate-wise median';
  if (robust.rule === 'trimmedMean') return `coordinate-wise trimmed mean (${(robust.trim ?? 0) * 100} % at each end)`;
  if (robust.rule === 'fltrust')
    return `FLTrust: weighed by alignment with the owner's update (cosine^${robust.trustExponent})`;
  return `Krum: the mean of the ${robust.krumSelect} best-placed update(s), at most ${robust.byzantine} assumed poisoned`;
}

/** A private task's guarantee, as its terms state it. */
function privacySummary(privacy: PrivacyTerms): string {
  const budget =
    privacy.targetEpsilon === null
      ? `ε ≈ ${privacy.plannedEpsilon.toFixed(2)} as planned`
      : `ε ≤ ${privacy.targetEpsilon}`;
  return `user-level DP, ${budget}, δ = ${privacy.delta} (σ = ${privacy.noiseMultiplier.toFixed(3)}); not covered: ${privacy.notCovered}`;
}

/** What data holders agreed to. */
function termsList({ terms, termsHash }: TermsView): HTMLElement {
  const { rewards, sent } = terms;
  const item = (label: string, value: string): HTMLElement => h('li', {}, h('strong', {}, `${label}: `), value);
  return h(
    'div',
    {},
    h('h2', {}, 'Terms'),
    h(
      'ul',
      {},
      item('coordinator', terms.coordinator),
      item('model', `${terms.model.parameters.toLocaleString()} parameters, ${terms.rounds} rounds`),
      item(
        'what leaves a holder’s machine',
        `updates clipped to ${sent.clipNorm}, ${sent.valueBits}-bit values${sent.proofs ? ', each with its proofs' : ''}`,
      ),
      item('updates published', terms.updatesPublished ? 'yes (public audit)' : 'no'),
      ...(terms.privacy ? [item('privacy', privacySummary(terms.privacy))] : []),
      ...(terms.weights.robust ? [item('aggregation', robustSummary(terms.weights.robust))] : []),
      ...(terms.holders ? [item('who takes part', holdersSummary(terms.holders.count))] : []),
      item(
        'rewards',
        `${tokens(BigInt(rewards.perRound))} per round, ${rewards.baseShareBps / 100} % split equally, the rest by contribution score` +
          (rewards.valueOver === 'task' ? ' summed over the task (a round pays what each is short of its share)' : '') +
          (terms.weights.replicaDistance
            ? ` (updates within ${terms.weights.replicaDistance} of one another count as one)`
            : '') +
          (terms.weights.contributorsOnly
            ? `; updates ${terms.weights.leaveOutByScore === false ? 'of zeros' : 'worth nothing'}, replays${terms.weights.leaveOutNoise ? ', or noise' : ''}, are left out and earn 0`
            : terms.weights.contributorsOnly === false
              ? '; every accepted update is aggregated and scored, one that does nothing too'
              : '') +
          (rewards.chain ? `, paid on chain ${rewards.chain.chainId}` : ', not settled on-chain'),
      ),
      ...(rewards.deadline === null
        ? []
        : [
            item(
              'claims',
              `within ${rewards.challengeWindowSeconds} s of a round's close a leaf may be challenged (answered within ${rewards.answerWindowSeconds} s); each round leaves at least ${rewards.claimPeriodSeconds / 3600} h to claim; the escrow ends ${new Date(rewards.deadline * 1000).toISOString()}, and what is unclaimed by then goes back to the owner`,
            ),
          ]),
      ...(rewards.stake
        ? [
            item(
              'stake',
              `${tokens(BigInt(rewards.stake))} locked by each contributor before its first update; forfeited to the owner if one of its leaves is voided, returned once no leaf can be challenged`,
            ),
          ]
        : []),
      item('terms hash', termsHash),
    ),
  );
}

/** The task page; `terms` are fetched once per visit (they do not change while the task runs). */
async function renderTask(id: string, terms: TermsView): Promise<void> {
  const [task, rounds] = await Promise.all([api.task(id), api.rounds(id)]);
  const settlement = task.spec.onchain ? await api.settlement(id) : undefined;
  show(
    h('h1', {}, task.spec.name, ' ', h('span', { class: 'muted' }, task.id)),
    h(
      'p',
      {},
      status(task),
      ` · round ${roundOf(task)}`,
      ...(task.roundDeadline ? [' (', timeLeft(task), ' left)'] : []),
      ` · ${task.numParams.toLocaleString()} parameters · `,
      task.spec.proofs ? `${task.zk.chunks} proof(s) per update (${task.zk.circuit})` : 'no proofs',
      task.spec.onchain ? ' · settled on-chain' : '',
    ),
    task.reason ? h('p', { class: 'reason' }, `Ended: ${task.reason}`) : null,
    task.status === 'running'
      ? h('p', {}, h('a', { href: `#/tasks/${encodeURIComponent(task.id)}/contribute` }, 'Contribute your data'))
      : null,
    task.spec.purpose ? h('p', {}, task.spec.purpose) : null,
    task.spec.owner ? h('p', { class: 'muted' }, `owner ${task.spec.owner}`) : null,
    plot(rounds),
    h('h2', {}, 'Rounds'),
    roundsTable(task, rounds),
    h('h2', {}, 'Participants'),
    participantsTable(rounds),
    roundNotes(rounds),
    rejectionsList(rounds),
    settlement ? settlementTable(settlement) : null,
    termsList(terms),
    h(
      'p',
      {},
      h('a', { href: `#/tasks/${encodeURIComponent(task.id)}/verify` }, 'Verify this run'),
      ' in this browser · ',
      h('a', { href: api.url('audit', { id: task.id }) }, 'audit bundle (JSON)'),
    ),
  );
}

/**
 * The task page, re-rendered whenever the coordinator says the task moved (no reload, no polling); the returned
 * function closes its watch connection.
 */
export async function taskPage(id: string): Promise<() => void> {
  const terms = await api.terms(id);
  await renderTask(id, terms);
  const watcher: Socket<WatchServerToClientEvents, WatchClientToServerEvents> = io(
    `${window.location.origin}${watchNamespace}`,
    { transports: ['websocket'] },
  );
  let pending: Promise<void> | undefined;
  const refresh = (): void => {
    pending ??= renderTask(id, terms).finally(() => (pending = undefined));
  };
  // Once followed, read the task again: it may have moved between the first read and the subscription.
  watcher.on('connect', () => watcher.emit('watch', id, refresh));
  for (const event of ['round:open', 'update:accepted', 'round:end', 'task:end'] as const) watcher.on(event, refresh);
  return () => watcher.disconnect();
}
