/**
 * Calls to a coordinator's REST API, one way for every caller (client, CLI, audit, circuit fetch): a network failure
 * is UNAVAILABLE, an error answer keeps the code the coordinator gave it.
 */
import { type ErrorBody, isErrorCode, ZkflError } from '../common/errors.js';

/** Tries of a GET: a kept-alive connection the server closes just as it is reused fails with ECONNRESET, and a GET
 * can safely be sent again. */
const GET_TRIES = 3;
const RETRY_DELAY_MS = 250;

async function send(url: string, init?: RequestInit): Promise<Response> {
  const tries = (init?.method ?? 'GET') === 'GET' ? GET_TRIES : 1;
  let response: Response | undefined;
  for (let attempt = 1; !response; attempt++) {
    try {
      response = await fetch(url, init);
    } catch (error) {
      if (attempt >= tries) throw new ZkflError('UNAVAILABLE', `cannot reach ${url}: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * attempt));
    }
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as Partial<ErrorBody>;
    const code = isErrorCode(body.code) ? body.code : 'INTERNAL';
    throw new ZkflError(code, body.message ?? `${url} answered ${response.status}`, body.field);
  }
  return response;
}

export async function requestJson<T>(url: string, init?: RequestInit): Promise<T> {
  return (await (await send(url, init)).json()) as T;
}

export async function requestBytes(url: string): Promise<Uint8Array> {
  return new Uint8Array(await (await send(url)).arrayBuffer());
}
