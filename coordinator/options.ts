import { z } from 'zod';
import type { CircuitFamily } from '../circuits/params.js';
import { sizedLayerTypes } from '../ml/model-size.js';
import type { Deployment } from '../contracts/deployment.js';
import type { SettlementOptions } from './settlement/settlement.js';
import type { TaskLimits } from './tasks/limits.js';
import type { RateLimits } from './surface/rate-limits.js';
import type { RejectionLimits } from './state/update-table.js';

/** Everything a coordinator can be configured with, each field with its default. */
export interface CoordinatorOptions {
  /** Directory for the model checkpoints, keys, uploads and (by default) the SQLite database. @default '.zkfl/coordinator' */
  dataDir: string;
  /**
   * The database: a PostgreSQL URL (`postgres://user:password@host/db`) shared by several coordinator instances,
   * or a SQLite file. @default '<dataDir>/coordinator.sqlite'
   */
  database?: string;
  /**
   * A Redis URL (`redis://host:6379`): proofs are verified by `zkfl worker` processes through its queue rather
   * than by this process's verifier pool. @default none: the in-process pool
   */
  redis?: string;
  /**
   * With a PostgreSQL database: seconds an instance's hold on a task (and on sending transactions) lasts unless
   * renewed. It renews every third of that; another instance takes over what an instance stopped renewing once it
   * expires. @default 10
   */
  leaseSeconds?: number;
  /** Interface to listen on. @default '127.0.0.1' */
  host: string;
  /**
   * The URLs clients and owners reach this coordinator at (behind a proxy, its public https URL; several for several
   * names). A sign-in must name one of them — its host as the domain, a URI on its origin — and is refused
   * otherwise, whatever host the request says it was sent to. @default the address it listens on, http://host:port
   */
  publicUrls?: string[];
  /** TCP port; 0 picks a free one. @default 8080 */
  port: number;
  /** Largest update payload accepted, in bytes; larger ones get PAYLOAD_TOO_LARGE. @default 64 MiB */
  maxPayloadBytes: number;
  /** Largest REST request body (task specs with a model topology), in bytes. @default 10 MiB */
  maxRestBodyBytes: number;
  /** Seconds a login nonce from `GET /api/auth/nonce` stays valid. @default 120 */
  nonceTtlSeconds: number;
  /** Seconds a model owner's session (`POST /api/auth/session`) lasts. @default 3600 */
  sessionTtlSeconds: number;
  /**
   * The addresses allowed to create tasks. @default anyone who signs in, up to `limits.tasksPerOwner` running tasks
   * each
   */
  owners?: string[];
  /** What one task may ask for (coordinator/tasks/limits.ts). @default defaultTaskLimits */
  limits?: Partial<TaskLimits>;
  /** Requests per client and window (coordinator/surface/rate-limits.ts). @default defaultRateLimits */
  rateLimits?: Partial<RateLimits>;
  /**
   * Directory whose files tasks may name as their evaluation set (`evaluation.path`, relative to it). @default none:
   * evaluation sets are uploaded with the task
   */
  dataRoot?: string;
  /**
   * Circuit family new tasks prove with (circuits/params.ts): `default`, or `test` (30-value chunks, for tests). A
   * task's `quantization.bits` picks the 8- or 16-bit circuit of the family; `zkfl setup` builds it. @default 'default'
   */
  circuit: CircuitFamily;
  /** Processes verifying proofs in parallel. @default the number of CPUs */
  verifierProcesses?: number;
  /**
   * A proof without a verdict within this many milliseconds (a verifier process hung, or with `redis` no worker
   * answered) is verified again in this process's own pool: the wait, not the update, is given up. @default 10000
   */
  verifyTimeoutMs: number;
  /**
   * The coordinator's Ethereum key file (created on first start): it signs receipts and sends settlement
   * transactions. @default '<dataDir>/coordinator-key.json'
   */
  keyFile?: string;
  /** Unlocks the key file when it is an encrypted keystore, and encrypts a new one. @default none */
  keyPassword?: string;
  /**
   * Where `onchain` tasks settle: a JSON-RPC URL and the deployment there; `publicRpcUrl`, the JSON-RPC URL the
   * contributor page claims through (the only origin besides the coordinator's its pages may reach). Never the
   * coordinator's own `rpcUrl` unless it is public: that one may carry a provider's API key.
   * @default none (no on-chain tasks; without `publicRpcUrl`, the page cannot take part in them)
   */
  chain?: { rpcUrl: string; deployment: Deployment; publicRpcUrl?: string };
  /** Settlement timing (coordinator/settlement/settlement.ts). @default defaultSettlementOptions */
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
  sessionTtlSeconds: 3600,
  circuit: 'default',
  verifyTimeoutMs: 10_000,
};

const count = z.number().int().positive();

/**
 * `zkfl coordinator --limits FILE`: the operator's limits in one JSON file, each section and field optional
 * (coordinator/tasks/limits.ts, coordinator/surface/rate-limits.ts, and the rejections a round lists).
 */
export const limitsFileSchema = z.strictObject({
  task: z
    .strictObject({
      params: count,
      activationsPerExample: count,
      modelJsonBytes: count,
      layerTypes: z.array(z.enum(sizedLayerTypes)),
      rounds: count,
      clientsPerRound: count,
      tasksPerOwner: count,
      evaluationBytes: count,
      evaluationValues: count,
      uploadBytesPerOwner: count,
      uploadTtlSeconds: count,
    })
    .partial()
    .optional(),
  rate: z
    .strictObject({
      noncesPerMinute: count,
      signInsPerMinute: count,
      createsPerHour: count,
      eventsPerMinute: count,
      malformedEvents: count,
      connectionsPerIp: count,
      httpConnectionsPerIp: count,
      auditStreamsPerIp: count,
      auditStreams: count,
    })
    .partial()
    .optional(),
  rejections: z.strictObject({ perAddress: count, perRound: count }).optional(),
});
export type LimitsFile = z.infer<typeof limitsFileSchema>;
