// Root hooks of every test file (mocha runs them per file in parallel mode): the log level, what tests left running,
// and, with ZKFL_TEST_TIMES=FILE, each file's seconds (one JSON line per file, appended).
import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';
import { isLogLevel, setLogLevel } from '../common/log.js';
import { runStops } from './helpers/cleanup.js';

// Tests log at warn unless ZKFL_LOG_LEVEL asks for more; child processes inherit the variable.
const level = process.env.ZKFL_LOG_LEVEL ?? 'warn';
process.env.ZKFL_LOG_LEVEL = level;
if (isLogLevel(level)) setLogLevel(level);

let started = 0;

export const mochaHooks = {
  beforeAll(): void {
    started = Date.now();
  },
  async afterEach(): Promise<void> {
    await runStops('test');
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    await runStops('file');
    const file = this.test?.parent?.suites[0]?.file;
    if (process.env.ZKFL_TEST_TIMES && file) {
      const seconds = (Date.now() - started) / 1000;
      appendFileSync(
        process.env.ZKFL_TEST_TIMES,
        JSON.stringify({ file: relative(process.cwd(), file), seconds }) + '\n',
      );
    }
  },
};
