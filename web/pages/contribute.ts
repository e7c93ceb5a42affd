/**
 * The contributor's page: a data holder reads a task's terms (the very text `zkfl client` shows), keeps a key in this
 * browser, picks its data, and agrees — its consent signed here, nothing trained before it. Then a Web Worker
 * (workers/contribute-worker.ts) runs the client's own round loop: the data stays in the worker, and only updates
 * and their proofs leave it. Each round shows its course: training, proving, the coordinator's verdict (its receipt,
 * or the code of the refusal), then its score and amount.
 */
import type { Wallet } from 'ethers';
import type { ClientEvent } from '../../client/core/round-loop.js';
import { taskKey } from '../../circuits/statement.js';
import { signConsent, termsHash, type TermsView } from '../../protocol/terms.js';
import { renderTerms } from '../../protocol/terms-text.js';
import type { TaskView } from '../../protocol/rest.js';
import { api } from '../api.js';
import { keepConsent, keepReceipt, keptConsent, keptReceipts } from '../contribution-store.js';
import { h, show } from '../dom.js';
import { createKey, importKeystore, keystoreFile, storedKey, unlockKey } from '../page-key.js';
import type { ContributeMessage, ContributeRequest } from '../workers/contribute-worker.js';
import { RoundRows } from './contribute-rounds.js';

/** What the page has gathered before the holder may agree. */
interface Ready {
  wallet?: Wallet;
  examples?: number;
}

/** A status line: text set as text, marked as an error when it is one. */
function statusLine(): { element: HTMLElement; set(text: string, error?: boolean): void } {
  const element = h('p', { role: 'status' });
  return {
    element,
    set(text, error = false) {
      element.textContent = text;
      element.setAttribute('class', error ? 'error' : 'muted');
      element.setAttribute('role', error ? 'alert' : 'status');
    },
  };
}

const button = (label: string, onClick: () => void, attributes: Record<string, string> = {}): HTMLElement => {
  const element = h('button', { type: 'button', ...attributes }, label);
  element.addEventListener('click', onClick);
  return element;
};

function labelled(label: string, input: HTMLElement): HTMLElement {
  const id = `field-${label.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  input.setAttribute('id', id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}

/** The key section: unlock the kept key, create one, import or export a keystore. */
function keySection(onWallet: (wallet: Wallet) => void): HTMLElement {
  const password = h('input', { type: 'password', autocomplete: 'current-password' }) as HTMLInputElement;
  const state = statusLine();
  const kept = storedKey();
  const progress = (verb: string) => (share: number) => state.set(`${verb} the key… ${Math.round(share * 100)} %`);
  const use = (promise: Promise<Wallet>): void => {
    promise.then(
      (wallet) => {
        state.set(`Key ${wallet.address} unlocked for this visit.`);
        onWallet(wallet);
      },
      (error: Error) => state.set(error.message, true),
    );
  };
  const importInput = h('input', { type: 'file', accept: '.json,application/json' }) as HTMLInputElement;
  importInput.addEventListener('change', () => {
    void importInput.files?.[0]?.text().then((text) => {
      try {
        state.set(`Keystore of ${importKeystore(text)} kept in this browser: unlock it with its password.`);
      } catch (error) {
        state.set((error as Error).message, true);
      }
    });
  });
  const exportLink = (): void => {
    const file = keystoreFile();
    if (!file) return state.set('No key is kept in this browser yet.', true);
    const link = h('a', { href: URL.createObjectURL(file), download: `zkfl-key-${storedKey()!.address}.json` });
    link.click();
  };
  const form = h(
    'form',
    {},
    h(
      'p',
      { class: 'muted' },
      kept
        ? `A key (${kept.address}) is kept in this browser, encrypted with its password.`
        : 'No key is kept in this browser: create one (kept encrypted with your password), or import a keystore `zkfl key` wrote.',
    ),
    labelled('Password', password),
    button('Unlock the kept key', () => use(unlockKey(password.value, progress('Unlocking')))),
    button('Create a new key', () => use(createKey(password.value, progress('Encrypting')))),
    button('Export the keystore', exportLink),
    labelled('Import a keystore', importInput),
    state.element,
  );
  // Enter in the password field unlocks the kept key, or creates one where none is kept.
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (storedKey()) use(unlockKey(password.value, progress('Unlocking')));
    else use(createKey(password.value, progress('Encrypting')));
  });
  return h('section', {}, h('h2', {}, 'Your key'), form);
}

/** The data section: a CSV file or a folder of images, read and checked in the worker; nothing is sent. */
function dataSection(worker: Worker, task: TaskView, state: ReturnType<typeof statusLine>): HTMLElement {
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
  const [task, view] = await Promise.all([api.task(id), api.terms(id)]);
  if (termsHash(view.terms) !== view.termsHash || view.terms.taskKey !== taskKey(task.id)) {
    throw new Error("the coordinator's terms do not hash to the hash it serves with them: do not agree to them");
  }
  const heading = h('h1', {}, `Contribute to ${task.spec.name}`);
  if (task.status !== 'running') {
    show(heading, h('p', { role: 'alert', class: 'error' }, `This task is ${task.status}: it takes no contributions.`));
    return () => undefined;
  }
  if (task.spec.onchain) {
    // Its rewards are claimed on-chain, which this page cannot do yet: it would take work it could not pay for.
    show(
      heading,
      h(
        'p',
        { role: 'alert', class: 'error' },
        'This task pays its rewards on-chain, and this page cannot claim them yet: take part with `zkfl client`, which claims what each round owes you.',
      ),
    );
    return () => undefined;
  }
  const worker = new Worker(new URL('assets/contribute-worker.js', window.location.href), { type: 'module' });
  const page = new ContributionView(task, view, worker);
  show(heading, ...page.sections());
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
  private readonly rounds: RoundRows;

  constructor(
    private readonly task: TaskView,
    private readonly view: TermsView,
    private readonly worker: Worker,
  ) {
    this.rounds = new RoundRows(api, task.id);
    worker.onmessage = ({ data }: MessageEvent<ContributeMessage>) => this.received(data);
    worker.onerror = (event) => this.state.set(`The contribution stopped: ${event.message}`, true);
  }

  sections(): HTMLElement[] {
    return [
      h('section', {}, h('h2', {}, 'Terms'), h('pre', { class: 'terms' }, renderTerms(this.view))),
      keySection((wallet) => this.got({ wallet })),
      dataSection(this.worker, this.task, this.dataState),
      h('section', {}, h('h2', {}, 'Agree'), this.agree, this.decline),
      h('section', {}, h('h2', {}, 'Progress'), this.state.element, this.rounds.element),
    ];
  }

  private got(part: Ready): void {
    Object.assign(this.ready, part);
    const { wallet, examples } = this.ready;
    if (part.wallet) {
      // A key that agreed to these terms before (a reloaded page): its receipts are shown, and it resumes.
      for (const receipt of keptReceipts(this.task.id, part.wallet.address)) this.rounds.kept(receipt);
      const agreed = keptConsent(this.task.id, part.wallet.address, this.view.termsHash);
      this.agree.textContent = agreed
        ? 'Resume: this key agreed to these terms'
        : 'I agree to these terms and contribute';
    }
    if (wallet && examples) this.agree.removeAttribute('disabled');
  }

  private declined(): void {
    this.agree.setAttribute('disabled', '');
    this.decline.setAttribute('disabled', '');
    this.state.set('You did not agree to the terms: nothing was sent, and this page takes no part in the task.');
  }

  private async start(): Promise<void> {
    const { wallet } = this.ready;
    if (!wallet) return;
    this.agree.setAttribute('disabled', '');
    this.decline.setAttribute('disabled', '');
    const { id } = this.task;
    const consent =
      keptConsent(id, wallet.address, this.view.termsHash) ??
      (await signConsent(wallet, this.view.terms.taskKey, this.view.termsHash));
    keepConsent(id, wallet.address, consent);
    this.state.set('Agreed. Starting…');
    const request: ContributeRequest = {
      type: 'start',
      coordinator: window.location.origin,
      taskId: id,
      privateKey: wallet.privateKey,
      consent,
      keptRounds: keptReceipts(id, wallet.address).map((receipt) => receipt.round),
    };
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
    else if (message.type === 'done') {
      this.state.set(
        `The task is ${message.result.status}. ${message.result.roundsContributed} of your updates were accepted.`,
      );
    }
  }

  private event(event: ClientEvent): void {
    if (event.type === 'ready') {
      this.rounds.address = event.address;
      this.state.set(`Training with TF.js (${event.backend}) on ${event.examples} examples.`);
    } else if (event.type === 'submitted' && event.receipt) keepReceipt(this.task.id, event.receipt);
    else if (event.type === 'joined') this.state.set(`Joined in round ${event.round}: waiting to be sampled.`);
    else if (event.type === 'disconnected') this.state.set('The connection to the coordinator dropped: reconnecting…');
    this.rounds.update(event);
  }
}
