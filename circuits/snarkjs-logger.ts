import type { SnarkjsLogger } from 'snarkjs';
import { createLogger } from '../common/log.js';

/** snarkjs's chatter goes to the project logger at debug level, warnings and errors as such. */
export function snarkjsLogger(component: string): SnarkjsLogger {
  const log = createLogger(component);
  return {
    debug: (message) => log.debug(message),
    log: (message) => log.debug(message),
    info: (message) => log.debug(message),
    warn: (message) => log.warn(message),
    error: (message) => log.error(message),
  };
}
