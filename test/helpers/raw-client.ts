/** A socket.io client driven by hand, to send what a well-behaved client never would. */
import { Wallet } from 'ethers';
import { io, type Socket } from 'socket.io-client';
import { CoordinatorApi } from '../../protocol/api.js';
import type { ErrorBody } from '../../common/errors.js';
import type { NonceView } from '../../protocol/rest.js';
import { type SignIn, signIn } from '../../protocol/sign-in.js';
import { signConsent } from '../../protocol/terms.js';
import { stopAfter } from './cleanup.js';
import { patienceSeconds } from './rest.js';

export type RawSocket = Socket;
export type Reply = { ok: true; [key: string]: unknown } | { ok: false; error: ErrorBody };

export async function freshNonce(url: string): Promise<NonceView> {
  return new CoordinatorApi(url).nonce();
}

/** A valid sign-in of `wallet` to the coordinator at `url`, as the client makes it. */
export async function signedIn(url: string, wallet: Wallet): Promise<SignIn> {
  return signIn(wallet, url, await freshNonce(url));
}

/**
 * Connects with `auth` (by default a valid login of `wallet`), sending `headers` with the handshake; if refused,
 * rejects with the server's error in `data`.
 */
export async function connect(
  url: string,
  wallet: Wallet,
  auth?: object,
  headers?: Record<string, string>,
): Promise<RawSocket> {
  const handshake = auth ?? (await signedIn(url, wallet));
  const socket = io(url, {
    transports: ['websocket'],
    auth: handshake,
    reconnection: false,
    ...(headers ? { extraHeaders: headers } : {}),
  });
  // Closed at the end of the file: suites open sockets in `before` hooks that span several tests.
  stopAfter('file', () => socket.disconnect());
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error: Error & { data?: ErrorBody }) => reject(error));
    // Dropped before the server answered the sign-in (a handshake frame too large): the reason is the error.
    socket.once('disconnect', (reason) => reject(new Error(reason)));
  });
}

/** Sends `event` and waits for its answer; one that never comes (within patienceSeconds) is a hang. */
export function request(socket: RawSocket, event: string, ...args: unknown[]): Promise<Reply> {
  return socket.timeout(patienceSeconds * 1000).emitWithAck(event, ...args) as Promise<Reply>;
}

export function next<T>(socket: RawSocket, event: string): Promise<T> {
  return new Promise((resolve) => socket.once(event, (payload: T) => resolve(payload)));
}

export function randomWallet(): Wallet {
  return new Wallet(Wallet.createRandom().privateKey);
}

/** Joins `taskId` with `wallet`'s signed consent to the task's current terms, as a well-behaved client does. */
export async function joinWithConsent(socket: RawSocket, url: string, wallet: Wallet, taskId: string): Promise<Reply> {
  const { terms, termsHash } = await new CoordinatorApi(url).terms(taskId);
  return request(socket, 'join', { taskId, consent: await signConsent(wallet, terms.taskKey, termsHash) });
}

/** What the library's client takes to agree to every task's terms without asking: tests decide up front. */
export const acceptTerms = { agreeToTerms: (): Promise<boolean> => Promise.resolve(true) };
