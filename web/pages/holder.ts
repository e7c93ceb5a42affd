import { api } from '../api.js';
import { h, show, table, tokens } from '../dom.js';

/** A data holder's page: the tasks it agreed to, the rounds it contributed, what they pay it. */
export async function holderPage(address: string): Promise<void> {
  const holder = await api.holder(address);
  const tokensOf = (amount: string | null): string => (amount === null ? '–' : tokens(BigInt(amount)));
  show(
    h('h1', {}, 'Data holder ', h('span', { class: 'muted' }, holder.address)),
    h('p', {}, `${holder.tasks.length} task(s) · ${holder.rejections} rejected update(s)`),
    holder.privacy
      ? h(
          'p',
          { 'data-privacy-ledger': '' },
          `Privacy spent here: ε ${holder.privacy.epsilon.toFixed(3)}, δ ${holder.privacy.delta} over its private tasks (basic composition: the sum, a bound)`,
        )
      : null,
    h('h2', {}, 'Tasks'),
    table(
      ['task', 'name', 'status', 'terms agreed to', 'rounds contributed', 'earned', 'claimed', 'ε spent (δ)'],
      holder.tasks.map((task) => [
        h('a', { href: `#/tasks/${encodeURIComponent(task.taskId)}` }, task.taskId),
        task.name,
        task.status,
        task.consent ? `${task.consent.termsHash.slice(0, 10)}… on ${new Date(task.consent.at).toLocaleString()}` : '–',
        task.rounds.length,
        tokens(BigInt(task.earned)),
        tokens(BigInt(task.claimed)),
        task.privacy ? `${task.privacy.epsilon.toFixed(3)} (${task.privacy.delta})` : 'no DP',
      ]),
      [4, 5, 6],
    ),
    h('h2', {}, 'Contributions'),
    table(
      ['task', 'round', 'commitment (in its receipt)', 'score', 'amount', 'claimed'],
      holder.tasks.flatMap((task) =>
        task.rounds.map((round) => [
          task.taskId,
          round.round,
          h('span', { title: round.commitment ?? '' }, round.commitment ? `${round.commitment.slice(0, 18)}…` : '–'),
          round.score === null ? '–' : round.score.toFixed(5),
          tokensOf(round.amount),
          task.claimedRounds.includes(round.round) ? 'yes' : '–',
        ]),
      ),
      [1, 3, 4],
    ),
  );
}
