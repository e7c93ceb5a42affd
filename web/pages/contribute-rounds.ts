/**
 * The contributor page's rounds table: one row per round this holder was sampled for, following the worker's events
 * (training, proving, the verdict), then, once the round is scored, what it earned; for an on-chain task, where its
 * claim stands.
 */
import type { OwedContribution } from '../../client/core/settling.js';
import type { ClientEvent } from '../../client/core/round-loop.js';
import type { CoordinatorApi } from '../../protocol/api.js';
import type { Receipt } from '../../protocol/receipt.js';
import { h, tokens } from '../dom.js';

interface Row {
  element: HTMLElement;
  state: HTMLElement;
  detail: HTMLElement;
  score: HTMLElement;
  amount: HTMLElement;
  /** Where its on-chain claim stands (on-chain tasks only). */
  paid: HTMLElement | undefined;
}

/** An on-chain round's claim, in words. */
function claimState(entry: OwedContribution): string {
  const at = (seconds: number): string => new Date(seconds * 1000).toLocaleTimeString();
  switch (entry.state) {
    case 'owed':
      return 'waiting for the round to close on-chain';
    case 'listed':
      return `in the posted set; claimable from ${at(entry.claimableAt!)}`;
    case 'claimed':
      return `claimed ${tokens(BigInt(entry.reward ?? 0))}`;
    case 'omitted':
      return `left out of the posted set: the receipt was shown on-chain, the coordinator must answer by ${at(entry.answerBy!)}`;
    case 'compensated':
      return `left out; the coordinator's bond paid ${tokens(BigInt(entry.reward ?? 0))}`;
    case 'lost':
      return `lost: ${entry.problem}`;
  }
}

export class RoundRows {
  readonly element: HTMLElement;
  private readonly body = h('tbody');
  private readonly rows = new Map<number, Row>();

  constructor(
    private readonly api: CoordinatorApi,
    private readonly taskId: string,
    private readonly onchain: boolean,
  ) {
    const headers = ['Round', 'State', 'Detail', 'Score', 'Amount', ...(onchain ? ['Paid on-chain'] : [])];
    this.element = h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { 'data-rounds': '' },
        h('thead', {}, h('tr', {}, ...headers.map((text) => h('th', {}, text)))),
        this.body,
      ),
    );
  }

  private row(round: number): Row {
    let row = this.rows.get(round);
    if (!row) {
      const cell = (): HTMLElement => h('td');
      row = {
        element: h('tr', { 'data-round': String(round) }),
        state: cell(),
        detail: cell(),
        score: cell(),
        amount: cell(),
        paid: this.onchain ? cell() : undefined,
      };
      row.element.append(h('td', {}, String(round)), row.state, row.detail, row.score, row.amount);
      if (row.paid) row.element.append(row.paid);
      this.body.append(row.element);
      this.rows.set(round, row);
    }
    return row;
  }

  private set(round: number, state: string, detail: string): void {
    const row = this.row(round);
    row.state.textContent = state;
    row.element.dataset.state = state;
    row.detail.textContent = detail;
  }

  update(event: ClientEvent): void {
    if (event.type === 'round:start') this.set(event.round, 'training', 'sampled: training on the global model');
    else if (event.type === 'training') {
      const { epoch, epochs, loss } = event.progress;
      this.set(event.round, 'training', `epoch ${epoch} of ${epochs}, loss ${loss.toFixed(4)}`);
    } else if (event.type === 'trained') {
      this.row(event.round).element.dataset.trainSeconds = event.seconds.toFixed(3);
      this.set(event.round, 'training', `trained ${event.epochs} epoch(s) in ${event.seconds.toFixed(1)} s`);
    } else if (event.type === 'proving') {
      this.set(event.round, 'proving', `chunk ${event.done} of ${event.total} proven`);
    } else if (event.type === 'proved') {
      Object.assign(this.row(event.round).element.dataset, {
        proveSeconds: event.seconds.toFixed(3),
        proveChunks: String(event.chunks),
      });
      this.set(event.round, 'sent', `${event.chunks} chunk(s) proven in ${event.seconds.toFixed(1)} s; sent`);
    } else if (event.type === 'pending') this.set(event.round, 'pending', event.reason);
    else if (event.type === 'submitted') this.verdict(event);
    else if (event.type === 'round:end') void this.scored(event.summary.round);
  }

  /** Where each round's on-chain claim stands. */
  settled(entries: readonly OwedContribution[]): void {
    for (const entry of entries) {
      const row = this.row(entry.round);
      row.element.dataset.claim = entry.state;
      if (row.paid) row.paid.textContent = claimState(entry);
    }
  }

  /** A round accepted before this visit, as its kept receipt says. */
  kept(receipt: Receipt): void {
    this.verdict({ type: 'submitted', round: receipt.round, accepted: true, receipt });
    void this.scored(receipt.round, receipt.contributor);
  }

  private verdict(event: Extract<ClientEvent, { type: 'submitted' }>): void {
    if (!event.accepted) {
      this.set(event.round, 'rejected', `${event.error?.code}: ${event.error?.message}`);
      return;
    }
    const receipt = event.receipt;
    this.set(
      event.round,
      'accepted',
      receipt
        ? `receipt for commitment ${receipt.updateCommitment.slice(0, 10)}…, signed by the coordinator`
        : 'accepted',
    );
  }

  /** The round's score and amount for this holder, once the coordinator has scored it. */
  private async scored(round: number, address = this.address): Promise<void> {
    const row = this.rows.get(round);
    if (!row || !address) return;
    const holder = await this.api.holder(address);
    const entry = holder.tasks.find((task) => task.taskId === this.taskId)?.rounds.find((r) => r.round === round);
    row.score.textContent = entry?.score === null || entry?.score === undefined ? '–' : entry.score.toFixed(4);
    row.amount.textContent = entry?.amount ? tokens(BigInt(entry.amount)) : '–';
  }

  /** Whose rounds these are: set once the worker reports its address. */
  address: string | undefined;
}
