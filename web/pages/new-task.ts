/**
 * The owner's form: a task spec checked in the browser with the API's own schema (protocol/task-spec.ts), each
 * error shown at its field; then Sign-In with Ethereum through the browser's wallet (EIP-1193), the evaluation set
 * uploaded, and the task created — the same requests `zkfl task create --evaluation` makes.
 */
import { BrowserProvider, type Eip1193Provider, parseEther } from 'ethers';
import { CoordinatorApi } from '../../protocol/api.js';
import { signIn } from '../../protocol/sign-in.js';
import { taskSpecSchema, type TaskSpecInput } from '../../protocol/task-spec.js';
import { h } from '../dom.js';

declare global {
  interface Window {
    ethereum?: Eip1193Provider;
  }
}

interface Field {
  name: string;
  label: string;
  kind: 'text' | 'number' | 'textarea' | 'select' | 'checkbox' | 'file';
  value?: string;
  options?: string[];
  hint?: string;
}

const fields: Field[] = [
  { name: 'name', label: 'Name', kind: 'text', value: 'clothing classifier' },
  { name: 'purpose', label: 'Purpose (shown to data holders)', kind: 'textarea' },
  { name: 'model.preset', label: 'Model', kind: 'select', options: ['cnn', 'mlp'] },
  { name: 'model.hidden', label: 'Dense layers', kind: 'text', value: '120,84', hint: 'widths, comma-separated' },
  { name: 'inputShape', label: 'Input shape', kind: 'text', value: '28,28,1' },
  { name: 'classes', label: 'Classes', kind: 'number', value: '10' },
  { name: 'rounds', label: 'Rounds', kind: 'number', value: '10' },
  { name: 'clientsPerRound.min', label: 'Clients per round: at least', kind: 'number', value: '2' },
  { name: 'clientsPerRound.target', label: 'Clients per round: sampled', kind: 'number', value: '4' },
  { name: 'rewards.perRound', label: 'Reward per round (tokens)', kind: 'text', value: '0' },
  {
    name: 'holders',
    label: 'Open only to these holders',
    kind: 'textarea',
    hint: 'their addresses, one per line; empty: anyone (keys are free: one person may use many)',
  },
  { name: 'proofs', label: 'Require a proof of every update', kind: 'checkbox', value: 'on' },
  {
    name: 'onchain',
    label: 'Settle on-chain (escrow with `zkfl task create --escrow` or your wallet)',
    kind: 'checkbox',
  },
  { name: 'evaluation', label: 'Evaluation set', kind: 'file', hint: 'one CSV file, or an IDX images + labels pair' },
];

const numbers = (text: string): number[] =>
  text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map(Number);

/** An upload id that stands for the chosen files while the spec is only being checked. */
const pendingUpload = '0'.repeat(64);

function element<T extends HTMLElement>(form: HTMLFormElement, name: string): T {
  return form.querySelector<T>(`[name="${name}"]`)!;
}

/** The spec the form describes; an amount that is not a number is set as an error instead. */
function specOf(form: HTMLFormElement, errors: Map<string, string>): TaskSpecInput {
  const text = (name: string): string => element<HTMLInputElement>(form, name).value;
  const checked = (name: string): boolean => element<HTMLInputElement>(form, name).checked;
  const preset = text('model.preset') as 'cnn' | 'mlp';
  let perRound = '0';
  try {
    perRound = String(parseEther(text('rewards.perRound') || '0'));
  } catch {
    errors.set('rewards.perRound', 'expected an amount of tokens, such as 100 or 0.5');
  }
  const holders = text('holders')
    .split(/[\s,]+/)
    .filter(Boolean);
  return {
    name: text('name'),
    purpose: text('purpose'),
    model: { preset, hidden: numbers(text('model.hidden')) },
    inputShape: numbers(text('inputShape')),
    classes: Number(text('classes')),
    rounds: Number(text('rounds')),
    clientsPerRound: { min: Number(text('clientsPerRound.min')), target: Number(text('clientsPerRound.target')) },
    rewards: { perRound },
    ...(holders.length > 0 ? { holders } : {}),
    proofs: checked('proofs'),
    onchain: checked('onchain'),
    evaluation: { upload: pendingUpload },
  };
}

/** Checks the form with the API's schema and shows each error at its field; the spec when there is none. */
function check(form: HTMLFormElement): TaskSpecInput | undefined {
  const errors = new Map<string, string>();
  const spec = specOf(form, errors);
  const result = taskSpecSchema.safeParse(spec);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.map(String).join('.');
      const field = fields.find((f) => path === f.name || path.startsWith(`${f.name}.`))?.name ?? 'form';
      if (!errors.has(field)) errors.set(field, issue.message);
    }
  }
  if (element<HTMLInputElement>(form, 'evaluation').files?.length === 0) {
    errors.set('evaluation', 'choose the evaluation set');
  }
  for (const { name } of [...fields, { name: 'form' }]) {
    const message = errors.get(name);
    const slot = form.querySelector<HTMLElement>(`[data-error-for="${name}"]`)!;
    slot.textContent = message ?? '';
    element<HTMLElement>(form, name)?.setAttribute('aria-invalid', String(message !== undefined));
  }
  return errors.size === 0 ? spec : undefined;
}

async function base64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Signs in with the browser's wallet, uploads the evaluation set and creates the task; answers its id. */
async function create(api: CoordinatorApi, form: HTMLFormElement, spec: TaskSpecInput): Promise<string> {
  if (!window.ethereum)
    throw new Error('signing in needs an Ethereum wallet in this browser (or use zkfl task create)');
  const provider = new BrowserProvider(window.ethereum);
  await provider.send('eth_requestAccounts', []);
  const signer = await provider.getSigner();
  const { token } = await api.session(await signIn(signer, api.base, await api.nonce()));
  const files: Record<string, string> = {};
  for (const file of element<HTMLInputElement>(form, 'evaluation').files ?? []) files[file.name] = await base64(file);
  const { upload } = await api.upload(token, { files });
  const task = await api.createTask(token, { ...spec, evaluation: { upload } });
  return task.id;
}

/** The form. */
export function newTaskForm(api: CoordinatorApi): HTMLElement {
  const control = (field: Field): HTMLElement => {
    const id = `field-${field.name}`;
    const common = { id, name: field.name, 'aria-describedby': `error-${field.name}` };
    if (field.kind === 'textarea') return h('textarea', { ...common, rows: '2' }, field.value ?? '');
    if (field.kind === 'select')
      return h('select', common, ...(field.options ?? []).map((o) => h('option', { value: o }, o)));
    if (field.kind === 'checkbox')
      return h('input', { ...common, type: 'checkbox', ...(field.value ? { checked: '' } : {}) });
    if (field.kind === 'file') return h('input', { ...common, type: 'file', multiple: '' });
    return h('input', { ...common, type: field.kind, value: field.value ?? '' });
  };
  const form = h(
    'form',
    { class: 'task-form', novalidate: '' },
    ...fields.map((field) =>
      h(
        'div',
        { class: 'field' },
        h('label', { for: `field-${field.name}` }, field.label),
        control(field),
        field.hint ? h('small', { class: 'muted' }, field.hint) : null,
        h('span', { class: 'field-error', id: `error-${field.name}`, 'data-error-for': field.name, role: 'alert' }),
      ),
    ),
    h('span', { class: 'field-error', 'data-error-for': 'form', role: 'alert' }),
    h('button', { type: 'submit' }, 'Sign in and create'),
  ) as HTMLFormElement;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const spec = check(form);
    if (!spec) return;
    const status = form.querySelector<HTMLElement>('[data-error-for="form"]')!;
    status.textContent = '';
    create(api, form, spec).then(
      (id) => (window.location.hash = `#/tasks/${encodeURIComponent(id)}`),
      (error: unknown) => (status.textContent = (error as Error).message),
    );
  });
  return form;
}
