import type { CircuitFamily } from '../circuits/params.js';
import type { Deployment } from '../contracts/deployment.js';
import type { SettlementOptions } from './settlement.js';
import type { RejectionLimits } from './storage.js';

/** Everything a coordinator can be configured with, each field with its default. */
export interface CoordinatorOptions {
  /** Directory for the SQLite database and the model checkpoints. @default '.zkfl/coordinator' */
  dataDir: string;
  /** Interface to listen on. @default '127.0.0.1' */
  host: string;
  /** TCP port; 0 picks a free one. @default 8080 */
  port: number;
  /** Largest update payload accepted, in bytes; larger ones get PAYLOAD_TOO_LARGE. @default 64 MiB */
  maxPayloadBytes: number;
  /** Largest REST request body (task specs with a model topology), in bytes. @default 10 MiB */
  maxRestBodyBytes: number;
  /** Seconds a login nonce from `GET /api/auth/nonce` stays valid. @default 120 */
  nonceTtlSeconds: number;
  /**
   * Circuit family new tasks prove with (circuits/params.ts): `default`, or `test` (30-value chunks, for tests). A
   * task's `quantization.bits` picks the 8- or 16-bit circuit of the family; `zkfl setup` builds it. @default 'default'
   */
  circuit: CircuitFamily;
  /** Processes verifying proofs in parallel. @default the number of CPUs */
  verifierProcesses?: number;
  /** A proof not verified within this many milliseconds is rejected with PROOF_TIMEOUT. @default 10000 */
  verifyTimeoutMs: number;
  /**
   * The coordinator's Ethereum key file (created on first start): it signs receipts and sends settlement
   * transactions. @default '<dataDir>/coordinator-key.json'
   */
  keyFile?: string;
  /** Where `onchain` tasks settle: a JSON-RPC URL and the deployment there. @default none (no on-chain tasks) */
  chain?: { rpcUrl: string; deployment: Deployment };
  /** Settlement timing (coordinator/settlement.ts). @default defaultSettlementOptions */
  settlement?: Partial<SettlementOptions>;
  /** Rejections a round lists per address and in all; the rest are counted. @default 3 and 100 */
  rejectionLimits?: RejectionLimits;
}

export const defaultCoordinatorOptions: CoordinatorOptions = {
  dataDir: '.zkfl/coordinator',
  host: '127.0.0.1',
  port: 8080,
  maxPayloadBytes: 64 * 1024 * 1024,
  maxRestBodyBytes: 10 * 1024 * 1024,
  nonceTtlSeconds: 120,
  circuit: 'default',
  verifyTimeoutMs: 10_000,
};
