/**
 * The worker thread that parses Sign-In with Ethereum messages and recovers their signers (coordinator/surface/sign-in.ts):
 * a few milliseconds of CPU each, which a burst of sign-ins would otherwise take from every other request.
 */
import { parentPort } from 'node:worker_threads';
import { SiweMessage } from 'siwe';

export interface SignInCheck {
  id: number;
  message: string;
  signature: string;
}

/** What the message says, whether its signature and time fields hold, and why not. */
export type CheckedSignIn =
  | { id: number; parsed: false }
  | {
      id: number;
      parsed: true;
      fields: Pick<SiweMessage, 'domain' | 'uri' | 'chainId' | 'statement' | 'nonce' | 'address'>;
      valid: boolean;
      error?: string;
    };

async function check({ id, message, signature }: SignInCheck): Promise<CheckedSignIn> {
  let siwe: SiweMessage;
  try {
    siwe = new SiweMessage(message);
  } catch {
    return { id, parsed: false };
  }
  const { domain, uri, chainId, statement, nonce, address } = siwe;
  const { success, error } = await siwe.verify({ signature, domain, nonce }, { suppressExceptions: true });
  return {
    id,
    parsed: true,
    fields: { domain, uri, chainId, statement, nonce, address },
    valid: success,
    error: error?.type,
  };
}

// Whatever a message makes the parser or the signature check throw, it is a refusal, never the thread's death.
parentPort!.on('message', (request: SignInCheck) => {
  const refused: CheckedSignIn = { id: request.id, parsed: false };
  void check(request)
    .catch(() => refused)
    .then((answer) => parentPort!.postMessage(answer));
});
