/** What the dashboard bundle costs a browser, gzipped: what it loads at start, and what a lazily loaded part adds. */
import { gzipSync } from 'node:zlib';
import type { DashboardBundle } from '../../coordinator/surface/dashboard.js';

/** Gzipped bytes. */
export const gzipped = (content: string | Buffer): number => gzipSync(content).length;

export function bundleWeight(bundle: DashboardBundle): {
  /** The HTML and everything the dashboard's entry imports statically. */
  atStart: number;
  /** What loading `entries` (and what they import) adds to what was served at start. */
  onDemand(entries: string[]): number;
  /** The output files whose names start with `prefix`. */
  named(prefix: string): string[];
} {
  /** A file and every chunk it imports statically, transitively: what loading it fetches. */
  const closure = (name: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(name) || !bundle.assets.has(name)) return seen;
    seen.add(name);
    for (const [, chunk] of bundle.assets.get(name)!.text.matchAll(/(?:from|import)\s*"\.\/([\w-]+\.js)"/g)) {
      closure(chunk!, seen);
    }
    return seen;
  };
  const start = new Set([...closure('dashboard.js'), 'dashboard.css']);
  const sum = (names: Iterable<string>): number =>
    [...names].reduce((total, name) => total + gzipped(bundle.assets.get(name)!.text), 0);
  return {
    atStart: gzipped(bundle.html) + sum(start),
    onDemand: (entries) =>
      sum(new Set(entries.flatMap((entry) => [...closure(entry)]).filter((name) => !start.has(name)))),
    named: (prefix) => [...bundle.assets.keys()].filter((name) => name.startsWith(prefix)),
  };
}
