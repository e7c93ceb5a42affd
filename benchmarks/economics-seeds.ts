/**
 * `npm run bench:economics-seeds`: the spread of `bench:economics` over seeds. One seed is one draw of shards,
 * initial model and noise; a free rider's luck, or a holder's, can look small or large in it. Reads the tables
 * `bench:economics` wrote (results/economics.md, seed 7, and results/economics-seed<N>.md from `-- --seed N`) and
 * writes results/economics-seeds.md: for each scenario, the least and most of each outcome over the seeds found, and
 * in how many seeds the attack moved honest pay further than luck did (the same seed's no-attack row), under both
 * reward rules (value summed over the task, and each round's alone).
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
  'attacker keys paid, valueOver round',
  "largest change in an honest holder's pay, valueOver round",
  'free rider paid, valueOver round',
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

const honestChange = columns.indexOf("largest change in an honest holder's pay");
const honestChangePerRound = columns.indexOf("largest change in an honest holder's pay, valueOver round");
const luckName = 'no attack: holder 4 under another key (its shuffle and rounding drawn afresh)';

/** The no-attack row under the same rule as `scenario` ("holders | name"): what luck alone moved pay by. */
function luckRow(scenario: string): string {
  const [holders] = scenario.split(' | ');
  const rule = / every update aggregated$/.test(scenario)
    ? ', every update aggregated'
    : / each update judged alone/.test(scenario)
      ? ', each update judged alone'
      : '';
  return `${holders} | ${luckName}${rule}`;
}

/**
 * Of the seeds, in how many an honest holder's pay (the `column` of its change) moved further than luck moved it
 * under the same rule.
 */
function beyondLuck(scenario: string, column: number): string {
  const moved = tables.flatMap((table) => {
    const change = table.rows.get(scenario)?.[column];
    const luck = table.rows.get(luckRow(scenario))?.[column];
    return change === undefined || luck === undefined ? [] : [Math.abs(change) > Math.abs(luck)];
  });
  const attack = !scenario.includes('no attack') && !scenario.includes('baseline');
  return attack && moved.length > 0 ? `${moved.filter(Boolean).length} of ${moved.length}` : '';
}

const files = readdirSync(results).filter((file) => /^economics(-seed\d+)?\.md$/.test(file));
const tables = files.map(readTable).sort((a, b) => a.seed - b.seed);
const seeds = tables.map((table) => table.seed);
const scenarios = [...tables[0]!.rows.keys()];
const summary = scenarios.map((scenario) => {
  const spreads = columns.map((_, c) =>
    range(tables.flatMap((table) => table.rows.get(scenario)?.[c] ?? []).filter((value) => !Number.isNaN(value))),
  );
  const beyond = [honestChange, honestChangePerRound].map((column) => beyondLuck(scenario, column));
  return `| ${scenario} | ${spreads.join(' | ')} | ${beyond.join(' | ')} |`;
});
const text =
  `Machine: ${machine()}. \`bench:economics\` over seeds ${seeds.join(', ')} (each seed: shards, initial model, ` +
  `noise and scoring drawn afresh), read from results/economics*.md: the least and the most of each outcome. The ` +
  `last column counts the seeds where an honest holder's pay moved further than the same seed's no-attack row ` +
  `(holder 4's own luck, under the same rule) moved it: a change within that is luck, not the attack; the ` +
  `columns "valueOver round" pay the same runs by each round's scores alone, not summed over the task.\n\n` +
  `| holders | scenario | ${columns.join(' | ')} | seeds where honest pay moved beyond luck | the same, valueOver round |\n` +
  `|---|---|${columns.map(() => '---:').join('|')}|---:|---:|\n${summary.join('\n')}\n`;
writeFileSync(new URL('economics-seeds.md', results), text);
process.stdout.write(text);
