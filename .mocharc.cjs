// The whole suite (npm test): every test file, run in parallel worker processes — at least two, since most files
// spend their time waiting on processes, chains and rounds rather than computing. Root hooks (test/setup*.ts) run
// per file: the log level, cleanup of what tests started, and the circuit the suite proves with.
const { readdirSync } = require('node:fs');
const { availableParallelism } = require('node:os');
const { join } = require('node:path');

/** Every test/**\/*.test.ts file. */
const testFiles = (dir = 'test') =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? testFiles(join(dir, entry.name))
      : entry.name.endsWith('.test.ts')
        ? [join(dir, entry.name)]
        : [],
  );

// The longest files first, so that the workers finish together; the rest follow in name order.
const longest = [
  'rewards',
  'restart',
  'audit',
  'instances',
  'demo',
  'bad-input',
  'training',
  'dropouts',
  'verifier-faults',
].map((name) => join('test', 'integration', `${name}.test.ts`));
const files = testFiles().sort();
// `npx mocha test/…/x.test.ts` runs just the files named (mocha would add them to the spec, not replace it).
const named = process.argv.slice(2).some((arg) => arg.endsWith('.test.ts'));

module.exports = {
  'node-option': ['import=tsx'],
  spec: named ? [] : [...longest, ...files.filter((file) => !longest.includes(file))],
  reporter: 'test/count-reporter.cjs',
  // A test that runs out of this is hung, not slow (test/helpers/rest.ts patienceSeconds, the same bound).
  timeout: 600_000,
  parallel: true,
  jobs: Math.max(2, availableParallelism()),
  require: ['test/setup.ts', 'test/setup-circuits.ts'],
};
