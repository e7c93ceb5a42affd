/**
 * `npm run bench:economics-seeds`: the spread of `bench:economics` over seeds. One seed is one draw of shards,
 * initial model and noise; a free rider's luck, or a holder's, can look small or large in it. Reads the tables
 * `bench:economics` wrote (results/economics.md, seed 7, and results/economics-seed<N>.md from `-- --seed N`) and
 * writes results/economics-seeds.md: for each scenario, the least and most of each outcome over the seeds found.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { machine } from './lib/machine.js';

const results = new URL('./results/', import.meta.url);

/** The columns summarised, by their header in bench:economics' table. */
const columns = [
  'attacker keys paid, of holder 4 alone',
  "largest change in an honest holder's pay",
  'free rider paid, of the median holder',
  'accuracy',
] as const;

interface Table {
  seed: number;
  /** By "holders | scenario": each column's value, a number (per cent) or undefined when the cell is empty. */
  rows: Map<string, Array<number | undefined>>;
}

function readTable(file: string): Table {
  const text = readFileSync(new URL(file, results), 'utf8');
  const seed = Number(/seed (\d+)\./.exec(text)?.[1]);
  const lines = text.split('\n').filter((line) => line.startsWith('|'));
  const cells = (line: string): string[] =>
    line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
  const header = cells(lines[0]!);
  const indices = columns.map((name) => header.indexOf(name));
  if (indices.includes(-1)) throw new Error(`${file}: not a bench:economics table`);
  const rows = new Map(
    lines.slice(2).map((line) => {
      const row = cells(line);
      const values = indices.map((i) => (row[i] === '' ? undefined : Number.parseFloat(row[i]!)));
      return [`${row[0]} | ${row[1]}`, values] as const;
    }),
  );
  return { seed, rows };
}

const range = (values: number[]): string => {
  if (values.length === 0) return '';
  const [low, high] = [Math.min(...values), Math.max(...values)];
  return low === high ? `${low.toFixed(1)} %` : `${low.toFixed(1)} to ${high.toFixed(1)} %`;
};

const files = readdirSync(results).filter((file) => /^economics(-seed\d+)?\.md$/.test(file));
const tables = files.map(readTable).sort((a, b) => a.seed - b.seed);
const seeds = tables.map((table) => table.seed);
const scenarios = [...tables[0]!.rows.keys()];
const summary = scenarios.map((scenario) => {
  const spreads = columns.map((_, c) =>
    range(tables.flatMap((table) => table.rows.get(scenario)?.[c] ?? []).filter((value) => !Number.isNaN(value))),
  );
  return `| ${scenario} | ${spreads.join(' | ')} |`;
});
const text =
  `Machine: ${machine()}. \`bench:economics\` over seeds ${seeds.join(', ')} (each seed: shards, initial model, ` +
  `noise and scoring drawn afresh), read from results/economics*.md: the least and the most of each outcome.\n\n` +
  `| holders | scenario | ${columns.join(' | ')} |\n|---|---|${columns.map(() => '---:').join('|')}|\n${summary.join('\n')}\n`;
writeFileSync(new URL('economics-seeds.md', results), text);
process.stdout.write(text);
