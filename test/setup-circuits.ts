// The full suite proves its small models with the default family's 2^15 circuit: build it first if it is missing or
// stale (cached), with a timeout no single test needs. The fast lane (test/unit, `npm run test:unit`) does without it.
import { circuit } from './helpers/circuits.js';

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(60 * 60 * 1000);
    await circuit('default15');
  },
};
