/** Terminal output for the CLI: tables and progress bars. Only the CLI prints; libraries report via callbacks. */
import cliProgress from 'cli-progress';
import { setLogSink } from '../common/log.js';

export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((row) => row.map(String))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  const line = (row: string[]): string => row.map((cell, column) => cell.padStart(widths[column]!)).join('  ');
  return [line(headers), widths.map((width) => '-'.repeat(width)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export const percent = (value: number | null): string =>
  value === null || Number.isNaN(value) ? '-' : `${(value * 100).toFixed(2)}%`;
export const fixed = (value: number | null, digits = 4): string =>
  value === null || Number.isNaN(value) ? '-' : value.toFixed(digits);

/** Progress bars on stderr that keep log lines above them; a no-op display when stderr is not a terminal. */
export class ProgressDisplay {
  private readonly multibar: cliProgress.MultiBar | undefined;
  private readonly bars = new Map<string, cliProgress.SingleBar>();

  constructor() {
    if (!process.stderr.isTTY) return;
    this.multibar = new cliProgress.MultiBar(
      {
        stream: process.stderr,
        format: '{label} |{bar}| {percentage}% {status}',
        barsize: 30,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    setLogSink((line) => this.multibar?.log(line + '\n'));
  }

  update(key: string, label: string, value: number, total: number, status: string): void {
    if (!this.multibar) return;
    let bar = this.bars.get(key);
    if (!bar) {
      bar = this.multibar.create(total, value, { label, status });
      this.bars.set(key, bar);
    }
    bar.setTotal(total);
    bar.update(value, { label, status });
  }

  stop(): void {
    this.multibar?.stop();
    setLogSink((line) => process.stderr.write(line + '\n'));
  }
}
