/** Small parts of the contributor page's forms: a status line, a button, a labelled input. */
import { h } from './dom.js';

export type StatusLine = ReturnType<typeof statusLine>;

/** A status line: text set as text, marked as an error when it is one. */
export function statusLine(): { element: HTMLElement; set(text: string, error?: boolean): void } {
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

export const button = (label: string, onClick: () => void, attributes: Record<string, string> = {}): HTMLElement => {
  const element = h('button', { type: 'button', ...attributes }, label);
  element.addEventListener('click', onClick);
  return element;
};

export function labelled(label: string, input: HTMLElement): HTMLElement {
  const id = `field-${label.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  input.setAttribute('id', id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}
