/**
 * Every error that crosses a boundary carries a string code from this table; REST answers with the code's HTTP
 * status and socket acks with `{ ok: false, error: { code, message } }`.
 */
export const errorStatus = {
  VALIDATION_FAILED: 400,
  MALFORMED_PAYLOAD: 400,
  UNKNOWN_EVENT: 400,
  WRONG_LENGTH: 400,
  PROOF_MISSING: 400,
  PROOF_MALFORMED: 400,
  PROOF_MISMATCH: 400,
  COMMITMENT_MISMATCH: 400,
  PROOF_INVALID: 400,
  AUTH_FAILED: 401,
  FORBIDDEN: 403,
  NOT_SELECTED: 403,
  CONSENT_REQUIRED: 403,
  /** The task takes part only with its stake locked in the escrow (rewards.stake). */
  STAKE_REQUIRED: 403,
  /** The task is open only to the holders its owner named (spec.holders), and this address is not one of them. */
  NOT_INVITED: 403,
  NOT_FOUND: 404,
  WRONG_TASK: 409,
  WRONG_ROUND: 409,
  DUPLICATE_UPDATE: 409,
  TASK_NOT_RUNNING: 409,
  /** A newer connection signed in with the same key joined the task: it gets the rounds from now on. */
  SUPERSEDED: 409,
  PAYLOAD_TOO_LARGE: 413,
  DATA_MISSING: 422,
  DATA_MALFORMED: 422,
  /** A request within the rules but over one of the operator's limits (the field names which). */
  LIMIT_EXCEEDED: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** The offending field, for VALIDATION_FAILED. */
  field?: string;
}

export class ZkflError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ZkflError';
  }

  toBody(): ErrorBody {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && value in errorStatus;
}

/** Turns anything thrown into a body safe to send: unknown errors become INTERNAL without leaking internals. */
export function toErrorBody(error: unknown): ErrorBody {
  if (error instanceof ZkflError) return error.toBody();
  return { code: 'INTERNAL', message: 'internal error' };
}
