/** Building the page: elements from tags, attributes and children, where text always stays text. */

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
