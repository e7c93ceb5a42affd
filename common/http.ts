/**
 * Calls to a coordinator's REST API, one way for every caller (client, CLI, audit, circuit fetch): a network failure
 * is UNAVAILABLE, an error answer keeps the code the coordinator gave it.
 */
import { type ErrorBody, isErrorCode, ZkflError } from '../protocol/errors.js';

async function send(url: string, init?: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ZkflError('UNAVAILABLE', `cannot reach ${url}: ${(error as Error).message}`);
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

export async function requestBytes(url: string): Promise<Buffer> {
  return Buffer.from(await (await send(url)).arrayBuffer());
}
