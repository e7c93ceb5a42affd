/**
 * The house measured from the code's own imports (every non-test `.ts` file git knows): lines per folder, the
 * largest files, functions over 60 lines, circles of imports between modules, and folders that import each other.
 *
 *   node --import tsx scripts/house.ts [checkout]     # JSON on stdout; checkout defaults to this one
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import ts from 'typescript';

const root = process.argv[2] ?? join(import.meta.dirname, '..');
const files = execFileSync('git', ['ls-files', '*.ts'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((file) => file && !file.endsWith('.d.ts') && !file.startsWith('test/'));

/** A file's folder, with the rooms of the coordinator, the client, the CLI and the web UI as folders of their own. */
function folderOf(file: string): string {
  const parts = file.split('/');
  if (parts.length === 1) return '.';
  const roomed = ['coordinator', 'client', 'cli', 'web'].includes(parts[0]!) && parts.length > 2;
  return roomed ? parts.slice(0, 2).join('/') : parts[0]!;
}

interface Module {
  lines: number;
  imports: string[];
  longFunctions: string[];
}

/** A file's line count, the files it imports (relative, static or dynamic) and its functions over 60 lines. */
function readModule(file: string): Module {
  const text = readFileSync(join(root, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const imports = new Set<string>();
  const longFunctions: string[] = [];
  const addImport = (specifier: string): void => {
    if (specifier.startsWith('.')) imports.add(normalize(join(dirname(file), specifier)).replace(/\.js$/, '.ts'));
  };
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      addImport((node.moduleSpecifier as ts.StringLiteral).text);
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteral(argument)) addImport(argument.text);
    }
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (end - start + 1 > 60) longFunctions.push(`${file}:${start + 1} (${end - start + 1} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { lines: text.split('\n').length, imports: [...imports], longFunctions };
}

/** Groups of modules that import each other, directly or through others (Tarjan's strongly connected components). */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const strong = (node: string): void => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    for (const target of graph.get(node) ?? []) {
      if (!index.has(target)) strong(target);
      if (stack.includes(target)) low.set(node, Math.min(low.get(node)!, low.get(target)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const group = stack.splice(stack.indexOf(node));
    if (group.length > 1) found.push(group);
  };
  for (const node of graph.keys()) if (!index.has(node)) strong(node);
  return found;
}

const modules = new Map(files.map((file) => [file, readModule(file)]));
const graph = new Map([...modules].map(([file, module]) => [file, module.imports.filter((to) => modules.has(to))]));
const linesPerFolder: Record<string, number> = {};
for (const [file, module] of modules)
  linesPerFolder[folderOf(file)] = (linesPerFolder[folderOf(file)] ?? 0) + module.lines;
const folderArrows = new Set(
  [...graph].flatMap(([from, targets]) =>
    targets.filter((to) => folderOf(to) !== folderOf(from)).map((to) => `${folderOf(from)} -> ${folderOf(to)}`),
  ),
);
const mutualFolders = [...folderArrows].filter((arrow) => {
  const [from, to] = arrow.split(' -> ') as [string, string];
  return from < to && folderArrows.has(`${to} -> ${from}`);
});

process.stdout.write(
  JSON.stringify(
    {
      lines: [...modules.values()].reduce((sum, module) => sum + module.lines, 0),
      linesPerFolder: Object.fromEntries(Object.entries(linesPerFolder).sort(([, a], [, b]) => b - a)),
      largest: [...modules]
        .sort(([, a], [, b]) => b.lines - a.lines)
        .slice(0, 8)
        .map(([file, m]) => `${file} ${m.lines}`),
      longFunctions: [...modules.values()].flatMap((module) => module.longFunctions),
      circles: circles(graph),
      mutualFolders,
    },
    null,
    2,
  ) + '\n',
);
