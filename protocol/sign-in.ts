/**
 * Sign-In with Ethereum (EIP-4361): how data holders (socket login) and model owners (REST sessions) prove to a
 * coordinator that they hold an address. The message names the coordinator it is for (its host and URL), so a
 * signature made for one coordinator is refused by another; its nonce comes from the coordinator and is single-use.
 */
import type { Signer } from 'ethers';
import { SiweMessage } from 'siwe';
import { z } from 'zod';
import type { NonceView } from './rest.js';

export const signInSchema = z.strictObject({
  /** The EIP-4361 message, as signed. */
  message: z.string().min(1).max(2000),
  /** Its EIP-191 signature. */
  signature: z
    .string()
    .regex(/^0x[0-9a-fA-F]+$/)
    .max(200),
});
export type SignIn = z.infer<typeof signInSchema>;

/**
 * A socket's handshake may instead name a session a sign-in opened (`POST /api/auth/session`): a client reconnecting
 * within the session's life proves its address without asking its wallet again.
 */
export const sessionHandshakeSchema = z.strictObject({ session: z.string().regex(/^[0-9a-f]{32}$/) });

export const signInStatement = 'Sign in to this zkfl coordinator.';

/** Signs in to the coordinator at `coordinatorUrl` with the nonce it issued. */
export async function signIn(signer: Signer, coordinatorUrl: string, nonce: NonceView): Promise<SignIn> {
  const url = new URL(coordinatorUrl);
  const message = new SiweMessage({
    domain: url.host,
    address: await signer.getAddress(),
    statement: signInStatement,
    uri: url.origin,
    version: '1',
    chainId: nonce.chainId,
    nonce: nonce.nonce,
    issuedAt: new Date().toISOString(),
    expirationTime: new Date(nonce.expiresAt).toISOString(),
  }).prepareMessage();
  return { message, signature: await signer.signMessage(message) };
}
