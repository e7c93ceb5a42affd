import type { ZkflError } from '../../common/errors.js';
import { parseTaskSpec } from '../../protocol/task-spec.js';

/** The error a task spec is refused with; fails the test when it is taken. */
export function specRefusal(input: unknown): ZkflError {
  try {
    parseTaskSpec(input);
  } catch (error) {
    return error as ZkflError;
  }
  throw new Error('expected the spec to be refused');
}
