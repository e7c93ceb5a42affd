import type { z } from 'zod';
import { ZkflError } from '../common/errors.js';

/** Parses `value` with `schema`, or throws VALIDATION_FAILED naming the first offending field. */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.map(String).join('.') || '(root)';
  throw new ZkflError('VALIDATION_FAILED', `invalid ${what}: ${field}: ${issue?.message ?? 'invalid'}`, field);
}
