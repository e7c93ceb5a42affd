import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const skipped = new Set(['node_modules', '.git', '.zkfl', 'scratch', 'dist']);

/** Every TypeScript file of the project, by path relative to the root. */
function sources(dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (skipped.has(entry.name)) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [relative(root, path)] : [];
  });
}

/** The project files `file` imports (or re-exports from), types included. */
function importsOf(file: string, known: Set<string>): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/(?:import|export)\s[^;]*?from\s+['"](\.[^'"]+)['"]/g)]
    .map((match) => join(dirname(file), match[1]!).replace(/\.js$/, '.ts'))
    .filter((target) => known.has(target));
}

/** What `file` loads when it runs: project files and packages it imports as values (`import type` loads nothing). */
function runtimeImportsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [
    ...text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+['"]([^'"]+)['"]|^import\s+['"]([^'"]+)['"]/gm),
  ].map((match) => {
    const specifier = (match[1] ?? match[2])!;
    return specifier.startsWith('.') ? join(dirname(file), specifier).replace(/\.js$/, '.ts') : specifier;
  });
}

/** The Node-only modules `entries` load, however indirectly, each with the chain of files that reaches it. */
function nodeOnlyReached(entries: string[], known: Set<string>): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const walk = (file: string, chain: string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const target of runtimeImportsOf(file)) {
      if (target.startsWith('node:')) found.push([...chain, file, target].join(' → '));
      else if (known.has(target)) walk(target, [...chain, file]);
    }
  };
  for (const entry of entries) walk(entry, []);
  return found;
}

/** The import cycles among `graph`'s files (Tarjan's strongly connected components of more than one file). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    for (const target of graph.get(file)!) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (stack.includes(target)) low.set(file, Math.min(low.get(file)!, index.get(target)!));
    }
    if (low.get(file) !== index.get(file)) return;
    const component = stack.splice(stack.indexOf(file));
    if (component.length > 1) found.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

describe('imports', () => {
  it('form no circle: types several modules share live where nothing imports back', () => {
    const files = sources();
    const known = new Set(files);
    expect(files.length).to.be.greaterThan(100);
    const graph = new Map(files.map((file) => [file, importsOf(file, known)]));
    expect(cycles(graph)).to.deep.equal([]);
  });

  it('keep the web UI, the audit core it runs and the client core from any Node-only module, however indirectly', () => {
    const files = sources();
    const known = new Set(files);
    const web = files.filter((file) => file.startsWith('web/'));
    expect(web.length).to.be.greaterThan(5);
    expect(nodeOnlyReached(web, known)).to.deep.equal([]);
    // The client's core, which a browser page will run as the Node client does.
    const core = files.filter((file) => file.startsWith('client/core/'));
    expect(core.length).to.be.greaterThan(0);
    expect(nodeOnlyReached(core, known)).to.deep.equal([]);
    // The check sees what it must: a Node module imported by a file the pages load would be named.
    expect(nodeOnlyReached(['verifier/run.ts'], known).length).to.be.greaterThan(0);
  });
});
