// The whole suite (npm test): every test file, run in parallel worker processes — at least two, since most files
// spend their time waiting on processes, chains and rounds rather than computing. Root hooks (test/setup*.ts) run
// per file: the log level, cleanup of what tests started, and the circuit the suite proves with.
const { availableParallelism } = require('node:os');

// `npx mocha test/…/x.test.ts` runs just the files named (mocha would add them to the spec, not replace it).
const named = process.argv.slice(2).some((arg) => /\.test\.ts$/.test(arg));

module.exports = {
  'node-option': ['import=tsx'],
  spec: named ? [] : ['test/**/*.test.ts'],
  reporter: 'test/count-reporter.cjs',
  timeout: 60000,
  parallel: true,
  jobs: Math.max(2, availableParallelism()),
  require: ['test/setup.ts', 'test/setup-circuits.ts'],
};
