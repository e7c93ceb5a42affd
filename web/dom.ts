/**
 * The one DOM helper every page shares: elements from tags, attributes and children, where text always stays text;
 * tables, amounts, links and the page's content.
 */
import type { TaskView } from '../protocol/rest.js';

export type Child = Node | string | number | null | undefined;

/** An element with attributes and children; strings become text nodes. */
export function h(tag: string, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) {
    if (child !== null && child !== undefined) element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function table(headers: string[], rows: Child[][], numeric: number[] = []): HTMLElement {
  const cell = (tag: string, index: number, child: Child): HTMLElement =>
    h(tag, numeric.includes(index) ? { class: 'num' } : {}, child);
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, ...headers.map((header, i) => cell('th', i, header)))),
      h('tbody', {}, ...rows.map((row) => h('tr', {}, ...row.map((value, i) => cell('td', i, value))))),
    ),
  );
}

/** An amount of the reward token (18 decimals) from its base units, to two places. */
export const tokens = (baseUnits: bigint): string => (Number(baseUnits) / 1e18).toFixed(2);

/** Replaces the page's content (absent parts left out). */
export function show(...parts: Array<HTMLElement | null>): void {
  document.getElementById('app')!.replaceChildren(...parts.filter((part) => part !== null));
}

export const percent = (value: number | null): string => (value === null ? '–' : `${(value * 100).toFixed(2)} %`);
export const fixed = (value: number | null): string => (value === null ? '–' : value.toFixed(4));
export const short = (address: string): string => `${address.slice(0, 8)}…${address.slice(-4)}`;
export const holderLink = (address: string): HTMLElement =>
  h('a', { href: `#/holders/${address}`, title: address }, short(address));
export const taskLink = (task: TaskView): HTMLElement =>
  h('a', { href: `#/tasks/${encodeURIComponent(task.id)}` }, task.id);
export const status = (task: TaskView): HTMLElement => h('span', { class: `status-${task.status}` }, task.status);
export const roundOf = (task: TaskView): string => `${task.currentRound} of ${task.spec.rounds}`;

/** What is left of a deadline, as "4 min 05 s"; "closing" once it passed. */
export function remaining(deadline: string): string {
  const seconds = Math.round((Date.parse(deadline) - Date.now()) / 1000);
  if (seconds <= 0) return 'closing';
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes} min ${String(seconds % 60).padStart(2, '0')} s` : `${seconds} s`;
}

/** The time left in the task's training round, counting down (one ticker updates every such element). */
export const timeLeft = (task: TaskView): HTMLElement =>
  task.roundDeadline
    ? h('span', { 'data-deadline': task.roundDeadline }, remaining(task.roundDeadline))
    : h('span', { class: 'muted' }, '–');
setInterval(() => {
  for (const element of document.querySelectorAll<HTMLElement>('[data-deadline]')) {
    element.textContent = remaining(element.dataset.deadline!);
  }
}, 1000);
