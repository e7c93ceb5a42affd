/**
 * The audit as `zkfl verify` runs it in Node: proofs in a pool of verifier processes, the public audit's
 * recomputation with TF.js, and the chain when one is given.
 */
import type { Provider } from 'ethers';
import { VerifierPool } from '../circuits/verifier.js';
import type { Deployment } from '../contracts/deployment.js';
import type { AuditBundle } from '../protocol/audit.js';
import { type AuditReport, auditBundle } from './audit.js';
import { checkChain } from './chain-audit.js';
import { recomputePublished } from './recompute.js';

export interface AuditOptions {
  chain?: { provider: Provider; deployment: Deployment };
  verifierProcesses?: number;
  onProgress?: (done: number, total: number) => void;
}

export function auditRun(bundle: AuditBundle, options: AuditOptions = {}): Promise<AuditReport> {
  const { chain } = options;
  return auditBundle(bundle, {
    proofVerifier: (key) => new VerifierPool(key, options.verifierProcesses, 60_000),
    recompute: recomputePublished,
    ...(chain ? { chain: (context) => checkChain(context, chain) } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}
