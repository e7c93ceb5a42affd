// Tests log at warn unless ZKFL_LOG_LEVEL asks for more; child processes inherit the variable.
import { isLogLevel, setLogLevel } from '../common/log.js';
import { circuit } from './helpers/circuits.js';

const level = process.env.ZKFL_LOG_LEVEL ?? 'warn';
process.env.ZKFL_LOG_LEVEL = level;
if (isLogLevel(level)) setLogLevel(level);

export const mochaHooks = {
  /** Integration tests prove with the default circuit: build it first if it is missing or stale (cached). */
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(60 * 60 * 1000);
    await circuit('default');
  },
};
