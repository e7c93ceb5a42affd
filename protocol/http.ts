/**
 * Calls to a coordinator's REST API, one way for every caller (client, CLI, audit, circuit fetch): a network failure
 * is UNAVAILABLE, an error answer keeps the code the coordinator gave it.
 *
 * A coordinator is not trusted to answer well: one that stops answering — before its answer starts or part-way
 * through it — is given up on after `silenceMs` without a byte (UNAVAILABLE), however long the answer, so a slow link
 * still downloads a large circuit (and before the answer starts, a request's body is given time to be sent); and an answer over `maxBytes` is refused (PAYLOAD_TOO_LARGE) before it is held
 * whole, so no coordinator fills a holder's or a verifier's memory.
 */
import { type ErrorBody, isErrorCode, ZkflError } from '../common/errors.js';

/** Tries of a GET: a kept-alive connection the server closes just as it is reused fails with ECONNRESET, and a GET
 * can safely be sent again. */
const GET_TRIES = 3;
const RETRY_DELAY_MS = 250;

export interface AnswerLimits {
  /** How long the coordinator may stay silent before its answer or between two of its parts. @default 60 s */
  silenceMs: number;
  /**
   * The largest answer read. @default 511 MiB: V8 holds no string past 2^29 − 24 characters, so a longer JSON text
   * could not be read anyway
   */
  maxBytes: number;
}

export const defaultAnswerLimits: AnswerLimits = { silenceMs: 60_000, maxBytes: 511 * 2 ** 20 };

/** Aborts a call once `ms` pass without `heard()`. */
class SilenceWatch {
  readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** `sendingMs`: more time before the answer starts, while the request's own body is sent. */
  constructor(
    readonly ms: number,
    sendingMs: number,
  ) {
    this.heard(ms + sendingMs);
  }

  heard(ms = this.ms): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(), ms);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  get silent(): boolean {
    return this.controller.signal.aborted;
  }
}

/** The longest Retry-After a GET waits out before it is sent again; a longer one is answered as RATE_LIMITED. */
const MAX_RETRY_AFTER_MS = 30_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long a 429 answer asks to be waited out before asking again, if it asks for a while we wait. */
function retryAfterMs(response: Response): number | undefined {
  const retryAfter = response.headers.get('retry-after');
  if (response.status !== 429 || !retryAfter) return undefined;
  const ms = Number(retryAfter) * 1000;
  return ms >= 0 && ms <= MAX_RETRY_AFTER_MS ? ms : undefined;
}

/**
 * The answer to the request. A GET is sent again when its connection failed (after a short delay) or when it was
 * answered RATE_LIMITED with a Retry-After we wait out; anything else is sent once.
 */
async function send(url: string, init: RequestInit | undefined, watch: SilenceWatch): Promise<Response> {
  const tries = (init?.method ?? 'GET') === 'GET' ? GET_TRIES : 1;
  for (let attempt = 1; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(url, { ...init, signal: watch.controller.signal });
    } catch (error) {
      if (watch.silent || attempt >= tries) throw unavailable(url, error, watch);
      await sleep(RETRY_DELAY_MS * attempt);
      continue;
    }
    const waitMs = attempt < tries ? retryAfterMs(response) : undefined;
    if (waitMs === undefined) {
      watch.heard();
      return response;
    }
    await response.body?.cancel();
    // The wait is asked for, not silence: it does not count against the coordinator.
    watch.heard(waitMs + watch.ms);
    await sleep(waitMs);
  }
}

/** The error an answer that is not ok stands for: the code and message the coordinator gave, if it gave them. */
function answeredError(url: string, status: number, body: Uint8Array): ZkflError {
  let error: Partial<ErrorBody> = {};
  try {
    error = (JSON.parse(new TextDecoder().decode(body)) as Partial<ErrorBody> | null) ?? {};
  } catch {
    // Not our error body (a proxy's page, say): the status is all there is.
  }
  const code = isErrorCode(error.code) ? error.code : 'INTERNAL';
  return new ZkflError(code, error.message ?? `${url} answered ${status}`, error.field);
}

function unavailable(url: string, error: unknown, watch: SilenceWatch): ZkflError {
  const why = watch.silent ? 'it stopped answering' : (error as Error).message;
  return new ZkflError('UNAVAILABLE', `cannot reach ${url}: ${why}`);
}

/** The answer's body, read as it arrives: refused past `maxBytes`, given up on after a silence. */
async function readBody(url: string, response: Response, watch: SilenceWatch, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () => new ZkflError('PAYLOAD_TOO_LARGE', `${url} answered more than ${maxBytes} bytes`);
  if (Number(response.headers.get('content-length') ?? 0) > maxBytes) {
    await response.body?.cancel();
    throw tooLarge();
  }
  if (!response.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let length = 0;
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
  try {
    for (let part = await reader.read(); !part.done; part = await reader.read()) {
      watch.heard();
      length += part.value.length;
      if (length > maxBytes) {
        await reader.cancel();
        throw tooLarge();
      }
      parts.push(part.value);
    }
  } catch (error) {
    throw error instanceof ZkflError ? error : unavailable(url, error, watch);
  }
  const body = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    body.set(part, offset);
    offset += part.length;
  }
  return body;
}

/**
 * How long sending a request's body may take, at the slowest rate a link is allowed (64 KiB/s): an owner's upload of
 * an evaluation set is sent whole before any answer comes. Our bodies are JSON, so characters count as bytes.
 */
const sendingTime = (body: RequestInit['body']): number => (typeof body === 'string' ? body.length / 64 : 0);

async function request(url: string, init: RequestInit | undefined, limits: AnswerLimits): Promise<Uint8Array> {
  const watch = new SilenceWatch(limits.silenceMs, sendingTime(init?.body));
  try {
    const response = await send(url, init, watch);
    const body = await readBody(url, response, watch, limits.maxBytes);
    if (!response.ok) throw answeredError(url, response.status, body);
    return body;
  } finally {
    watch.stop();
  }
}

export async function requestJson<T>(
  url: string,
  init?: RequestInit,
  limits: AnswerLimits = defaultAnswerLimits,
): Promise<T> {
  const text = new TextDecoder().decode(await request(url, init, limits));
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ZkflError('DATA_MALFORMED', `${url} answered something that is not JSON`);
  }
}

export function requestBytes(url: string, limits: AnswerLimits = defaultAnswerLimits): Promise<Uint8Array> {
  return request(url, undefined, limits);
}
