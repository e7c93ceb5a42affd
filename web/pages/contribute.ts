/**
 * The contributor's page: a data holder reads a task's terms (the very text `zkfl client` shows), keeps a key in this
 * browser or connects a wallet, picks its data, and agrees — its consent signed here, nothing trained before it.
 * Then a Web Worker (workers/contribute-worker.ts) runs the client's own round loop: the data stays in the worker, and
 * only updates and their proofs leave it. Each round shows its course: training, proving, the coordinator's verdict
 * (its receipt, or the code of the refusal), then its score and amount; an on-chain task's rounds are then claimed
 * from the page (contribute-rewards.ts), also after the task ended.
 */
import type { ClientEvent, ClientResult } from '../../client/core/round-loop.js';
import type { OwedContribution } from '../../client/core/settling.js';
import { taskKey } from '../../circuits/statement.js';
import { signConsent, termsHash, type TermsView } from '../../protocol/terms.js';
import { invited, notInvitedMessage } from '../../protocol/holders.js';
import { renderTerms } from '../../protocol/terms-text.js';
import type { InfoView, TaskView } from '../../protocol/rest.js';
import { api } from '../api.js';
import { keepConsent, keepOwed, keepReceipt, keptConsent, keptOwed, keptReceipts } from '../contribution-store.js';
import { h, show, tokens } from '../dom.js';
import { button, labelled, type StatusLine, statusLine } from '../form-parts.js';
import type { ContributeMessage, ContributeRequest } from '../workers/contribute-worker.js';
import { holderSection, type PageHolder, walletDoes } from './contribute-holder.js';
import { RewardsView } from './contribute-rewards.js';
import { RoundRows } from './contribute-rounds.js';

/** What the page has gathered before the holder may agree. */
interface Ready {
  holder?: PageHolder;
  examples?: number;
}

/** The chain an on-chain task settles on, with the public endpoint the page claims through. */
type PublicChain = NonNullable<InfoView['chain']> & { publicRpcUrl: string };

/** The data section: a CSV file or a folder of images, read and checked in the worker; nothing is sent. */
function dataSection(worker: Worker, task: TaskView, state: StatusLine): HTMLElement {
  const pick = (input: HTMLInputElement): void => {
    const files = [...(input.files ?? [])].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
    if (files.length === 0) return;
    state.set(`Reading ${files.length === 1 ? files[0]!.path : `${files.length} files`}…`);
    const request: ContributeRequest = { type: 'data', files, task: task.spec };
    worker.postMessage(request);
  };
  const csv = h('input', { type: 'file', accept: '.csv,text/csv' }) as HTMLInputElement;
  const folder = h('input', { type: 'file', webkitdirectory: '' }) as HTMLInputElement;
  for (const input of [csv, folder]) input.addEventListener('change', () => pick(input));
  return h(
    'section',
    {},
    h('h2', {}, 'Your data'),
    h(
      'p',
      { class: 'muted' },
      'A CSV file as `zkfl client --data` reads it (one example per row: its features, then its label), or a folder with one subfolder of PNG or JPEG images per class. It is read in this page and never sent.',
    ),
    labelled('Data file (CSV)', csv),
    labelled('Or a folder of images', folder),
    state.element,
  );
}

/** The contributor's page for task `id`; returns what stops it when the holder leaves. */
export async function contributePage(id: string): Promise<() => void> {
  const [task, view, info] = await Promise.all([api.task(id), api.terms(id), api.info()]);
  if (termsHash(view.terms) !== view.termsHash || view.terms.taskKey !== taskKey(task.id)) {
    throw new Error("the coordinator's terms do not hash to the hash it serves with them: do not agree to them");
  }
  const heading = h('h1', {}, `Contribute to ${task.spec.name}`);
  const alert = (text: string): HTMLElement => h('p', { role: 'alert', class: 'error' }, text);
  const chain = task.spec.onchain ? info.chain : null;
  if (task.spec.onchain && !chain?.publicRpcUrl) {
    // Its rewards are claimed on-chain, which this page cannot reach: it would take work it could not pay for.
    show(
      heading,
      alert(
        'This task pays its rewards on-chain, and its coordinator names no public endpoint of its chain for this page to claim through: take part with `zkfl client`, which claims what each round owes you.',
      ),
    );
    return () => undefined;
  }
  const ended = task.status !== 'running';
  if (ended && !chain) {
    show(heading, alert(`This task is ${task.status}: it takes no contributions.`));
    return () => undefined;
  }
  const worker = new Worker(new URL('assets/contribute-worker.js', window.location.href), { type: 'module' });
  const page = new ContributionView(task, view, worker, chain as PublicChain | null);
  show(
    heading,
    ...(ended ? [alert(`This task is ${task.status}: it takes no contributions.`)] : []),
    ...page.sections(),
  );
  return () => worker.terminate();
}

/** The page's state: what is ready, the agreement, and the rounds as the worker reports them. */
class ContributionView {
  private readonly ready: Ready = {};
  private readonly dataState = statusLine();
  private readonly state = statusLine();
  private readonly agree = button('I agree to these terms and contribute', () => void this.start(), {
    disabled: '',
  });
  private readonly decline = button('I do not agree', () => this.declined());
  private readonly claim = button('Claim what this key is owed', () => this.claimOnly(), { disabled: '' });
  private readonly rounds: RoundRows;
  private readonly rewards: RewardsView | undefined;
  /** The progress line shows that the chosen key is not one the task names. */
  private refusedKey = false;

  constructor(
    private readonly task: TaskView,
    private readonly view: TermsView,
    private readonly worker: Worker,
    private readonly chain: PublicChain | null,
  ) {
    this.rounds = new RoundRows(api, task.id, chain !== null);
    this.rewards = chain ? new RewardsView(chain) : undefined;
    worker.onmessage = ({ data }: MessageEvent<ContributeMessage>) => this.received(data);
    worker.onerror = (event) => this.state.set(`The contribution stopped: ${event.message}`, true);
  }

  private get ended(): boolean {
    return this.task.status !== 'running';
  }

  sections(): HTMLElement[] {
    const holder = holderSection((chosen) => this.got({ holder: chosen }), this.chain?.chainId);
    const progress = h('section', {}, h('h2', {}, 'Progress'), this.state.element, this.rounds.element);
    if (this.ended) return [holder, this.rewards!.element, h('section', {}, this.claim), progress];
    return [
      h('section', {}, h('h2', {}, 'Terms'), h('pre', { class: 'terms' }, renderTerms(this.view))),
      holder,
      dataSection(this.worker, this.task, this.dataState),
      h('section', {}, h('h2', {}, 'Agree'), this.agree, this.decline),
      ...(this.rewards ? [this.rewards.element] : []),
      progress,
    ];
  }

  private got(part: Ready): void {
    Object.assign(this.ready, part);
    const { holder, examples } = this.ready;
    if (part.holder) {
      const { address } = part.holder;
      // A key that took part before (a reloaded page): its receipts and what it is owed are shown, and it resumes.
      for (const receipt of keptReceipts(this.task.id, address)) this.rounds.kept(receipt);
      this.owed(keptOwed(this.task.id, address));
      const agreed = keptConsent(this.task.id, address, this.view.termsHash);
      this.agree.textContent = agreed
        ? 'Resume: this key agreed to these terms'
        : 'I agree to these terms and contribute';
      if (this.ended) this.claim.removeAttribute('disabled');
    }
    if (holder && !invited(this.task.spec.holders, holder.address)) {
      // Nothing to agree to: the coordinator would refuse this key at the join.
      this.agree.setAttribute('disabled', '');
      this.refusedKey = true;
      const said = notInvitedMessage(this.task.id, this.task.spec.holders!.length, holder.address);
      return this.state.set(`${said}: use a key the owner named.`, true);
    }
    // A key the task names, after one it does not: the refusal no longer stands.
    if (this.refusedKey) this.state.set('');
    this.refusedKey = false;
    if (holder && examples) this.agree.removeAttribute('disabled');
  }

  private declined(): void {
    this.agree.setAttribute('disabled', '');
    this.decline.setAttribute('disabled', '');
    this.state.set('You did not agree to the terms: nothing was sent, and this page takes no part in the task.');
  }

  /** Who takes part, for the worker: a page key's secret, or a wallet's address (the worker asks the page). */
  private holding(holder: PageHolder) {
    return {
      coordinator: window.location.origin,
      taskId: this.task.id,
      holder: 'key' in holder ? { privateKey: holder.key.privateKey } : { wallet: holder.address },
      owed: keptOwed(this.task.id, holder.address),
    };
  }

  private async start(): Promise<void> {
    const { holder } = this.ready;
    if (!holder) return;
    this.agree.setAttribute('disabled', '');
    this.decline.setAttribute('disabled', '');
    const { id } = this.task;
    try {
      const consent =
        keptConsent(id, holder.address, this.view.termsHash) ??
        (await signConsent(holder.signer, this.view.terms.taskKey, this.view.termsHash));
      keepConsent(id, holder.address, consent);
      this.state.set('Agreed. Starting…');
      const keptRounds = keptReceipts(id, holder.address).map((receipt) => receipt.round);
      this.send({ type: 'start', consent, keptRounds, ...this.holding(holder) });
    } catch (error) {
      // A wallet that refused to sign the consent: nothing was sent, and the holder may agree again.
      this.state.set(`No consent was signed: ${(error as Error).message}`, true);
      this.agree.removeAttribute('disabled');
      this.decline.removeAttribute('disabled');
    }
  }

  private claimOnly(): void {
    if (!this.ready.holder) return;
    this.claim.setAttribute('disabled', '');
    this.state.set('Claiming what this key is owed…');
    this.send({ type: 'claim', ...this.holding(this.ready.holder) });
  }

  private send(request: ContributeRequest): void {
    this.worker.postMessage(request);
  }

  private received(message: ContributeMessage): void {
    if (message.type === 'data') {
      this.dataState.set(`${message.examples} examples of ${message.features} features, checked against the task.`);
      this.got({ examples: message.examples });
    } else if (message.type === 'error') {
      const said = `${message.code}: ${message.message}`;
      if (message.stage === 'run') return this.state.set(said, true);
      // The worker dropped what it read: the holder must pick data that reads before agreeing.
      this.dataState.set(said, true);
      this.ready.examples = undefined;
      this.agree.setAttribute('disabled', '');
    } else if (message.type === 'status') this.state.set(message.text);
    else if (message.type === 'log') console.info(message.line);
    else if (message.type === 'event') this.event(message.event);
    else if (message.type === 'owed') this.owed(message.entries, true);
    else if (message.type === 'wallet') void this.askWallet(message);
    else if (message.type === 'done') this.state.set(summary(message.result));
  }

  /** What an on-chain task owes this holder: kept (when the worker says it changed), and shown. */
  private owed(entries: OwedContribution[], changed = false): void {
    const holder = this.ready.holder;
    if (!holder || !this.rewards) return;
    if (changed) keepOwed(this.task.id, holder.address, entries);
    this.rounds.settled(entries);
    void this.rewards.show(holder.address, entries);
  }

  /** The worker asks the browser wallet for a signature or a transaction; the person approves it there. */
  private async askWallet({ id, request }: Extract<ContributeMessage, { type: 'wallet' }>): Promise<void> {
    const holder = this.ready.holder;
    if (!holder || !('wallet' in holder)) return;
    const answer = await walletDoes(holder.wallet, request).then(
      (result) => ({ result }),
      (error: Error) => ({ error: error.message }),
    );
    this.send({ type: 'wallet', id, ...answer });
  }

  private event(event: ClientEvent): void {
    if (event.type === 'ready') {
      this.rounds.address = event.address;
      this.state.set(`Training with TF.js (${event.backend}) on ${event.examples} examples.`);
    } else if (event.type === 'submitted' && event.receipt) keepReceipt(this.task.id, event.receipt);
    else if (event.type === 'joined') this.state.set(`Joined in round ${event.round}: waiting to be sampled.`);
    else if (event.type === 'disconnected') this.state.set('The connection to the coordinator dropped: reconnecting…');
    else if (event.type === 'signing in') this.state.set('Signing in to the coordinator (once a session)…');
    this.rounds.update(event);
  }
}

/** What the worker's run came to. */
function summary(result: ClientResult): string {
  const rewards = result.rewards
    ? ` Claimed on-chain: ${tokens(BigInt(result.rewards.claimed))} tokens; rounds still being settled: ${result.rewards.owed}.`
    : '';
  const accepted =
    result.roundsContributed > 0 || !result.rewards
      ? ` ${result.roundsContributed} of your updates were accepted.`
      : '';
  return `The task is ${result.status}.${accepted}${rewards}`;
}
