/**
 * A task's terms, as a data holder agrees to them before its client trains: who asks (owner, coordinator), for
 * what (purpose, model, rounds, what the client's machine will run), what leaves the machine and what is published,
 * how it pays (pool, rule, settlement windows) and by when. The coordinator serves them with their hash
 * (`GET /api/tasks/:id/terms`); the client shows them, and on the holder's agreement signs
 *   EIP-712 Consent(bytes32 taskKey, bytes32 termsHash)
 * with its key. The coordinator takes updates only from addresses whose consent to the current terms it holds, and
 * the audit bundle carries every consent, so anyone can check that each contributor agreed to these terms.
 */
import { keccak256, type Signer, toUtf8Bytes, type TypedDataDomain, verifyTypedData } from 'ethers';
import { z } from 'zod';
import { canonicalJson } from './canonical.js';
import type { InfoView, TaskView } from './rest.js';
import { holdersHash } from './holders.js';
import { noiseMultiplierOf, plannedEpsilon } from './privacy.js';

export interface TaskTerms {
  taskId: string;
  /** sha256 of the task id, 0x-hex: how contracts and signatures name the task. */
  taskKey: string;
  name: string;
  purpose: string;
  /** The model owner's address, when the task names one. */
  owner: string | null;
  /** The coordinator that runs the rounds, signs the records and (for `onchain` tasks) settles. */
  coordinator: string;
  model: { spec: TaskView['spec']['model']; parameters: number; inputShape: number[]; classes: number };
  rounds: number;
  /** What the client's machine runs each round it is sampled for. */
  training: TaskView['spec']['training'];
  /** What each accepted update weighs in the aggregate (protocol/weights-rule.ts). */
  weights: {
    rule: 'equal' | 'samples';
    samplesCap: number | null;
    /** Updates this close to one another count once, their value split (ml/replicas.ts); absent: each alone. */
    replicaDistance?: number;
    /** Only contributors enter the aggregate: replays and updates worth nothing are left out, and earn 0. */
    contributorsOnly?: boolean;
    /** With contributorsOnly: how close to the last round's step an update replays it; absent: its replicaDistance. */
    replayDistance?: number;
    /** With contributorsOnly: updates the round's game finds worth nothing are left out too; absent: they are. */
    leaveOutByScore?: boolean;
    /** With contributorsOnly: updates that point nowhere the owner's data asks for are left out as noise (ml/noise.ts). */
    leaveOutNoise?: boolean;
    /** A robust rule combines the updates instead of their mean (ml/robust.ts); absent: the mean. */
    robust?: {
      rule: 'median' | 'trimmedMean' | 'krum' | 'fltrust';
      trim?: number;
      byzantine?: number;
      krumSelect?: number;
      trustExponent?: number;
    };
  };
  roundDeadlineSeconds: number;
  /** A task for known holders (protocol/holders.ts): how many addresses it names, and their list's hash; absent: anyone. */
  holders?: { count: number; hash: string };
  /** What leaves the machine: only clipped, quantized updates; with proofs of their well-formedness. */
  sent: { clipNorm: number; valueBits: number; proofs: boolean };
  /** Whether every accepted update (its quantized values) is published in the audit bundle. */
  updatesPublished: boolean;
  /** A private task's guarantee (spec.privacy, protocol/privacy.ts); absent: none beyond keeping data local. */
  privacy?: PrivacyTerms;
  rewards: {
    /** Token base units per round, split by contribution score (ml/scoring.ts) after an equal base share. */
    perRound: string;
    baseShareBps: number;
    /** What the value part follows (protocol/reward-rule.ts); absent: each round's scores alone. */
    valueOver?: 'round' | 'task';
    /** Where it is paid: the chain, contract and token, or null when nothing is settled on-chain. */
    chain: { chainId: number; rewards: string; token: string } | null;
    challengeWindowSeconds: number;
    answerWindowSeconds: number;
    /** Seconds, at the least, to claim a round once its windows passed. */
    claimPeriodSeconds: number;
    /** When the escrow ends (unix seconds): what is not claimed by then goes back to the owner. */
    deadline: number | null;
    /** Tokens to lock before taking part, forfeited if a leaf of this address is voided; absent: none. */
    stake?: string;
  };
}

/** What a private task promises, in the terms. */
export interface PrivacyTerms {
  /** User-level (ε, δ)-DP of everything derived from the released aggregates: each round's model and metrics. */
  delta: number;
  /** The most ε the task spends: no round is released past it; null: no cap (ε is accounted in every round record). */
  targetEpsilon: number | null;
  /** ε all rounds spend at the planned sampling rate (clientsPerRound.target of the population). */
  plannedEpsilon: number;
  noiseMultiplier: number;
  population: number;
  /**
   * Not covered by the guarantee: the coordinator sees each update in the clear, and each round record publishes
   * every contributor's score and amount, computed from its own update.
   */
  notCovered: string;
}

const notCovered =
  'the coordinator, which sees each update in the clear and adds the noise; the per-update scores and amounts the round records publish';

function privacyTerms(spec: TaskView['spec']): PrivacyTerms | undefined {
  if (!spec.privacy) return undefined;
  return {
    delta: spec.privacy.delta,
    targetEpsilon: spec.privacy.targetEpsilon ?? null,
    plannedEpsilon: plannedEpsilon(spec),
    noiseMultiplier: noiseMultiplierOf(spec),
    population: spec.privacy.population,
    notCovered,
  };
}

/** The robust rule, with only the parameters it uses (none for the mean: other tasks' terms stay as they were). */
function robustTerms(aggregation: TaskView['spec']['aggregation']): Pick<TaskTerms['weights'], 'robust'> {
  const { rule, trim, byzantine, krumSelect, trustExponent } = aggregation;
  if (rule === undefined || rule === 'mean') return {};
  if (rule === 'median') return { robust: { rule } };
  if (rule === 'trimmedMean') return { robust: { rule, trim } };
  if (rule === 'fltrust') return { robust: { rule, trustExponent } };
  return { robust: { rule, byzantine, krumSelect } };
}

/** The terms of `task` as coordinator `info` runs it. */
export function taskTerms(task: TaskView, info: InfoView, taskKey: string): TaskTerms {
  const { spec } = task;
  return {
    taskId: task.id,
    taskKey,
    name: spec.name,
    purpose: spec.purpose,
    owner: spec.owner ?? null,
    coordinator: info.coordinator,
    model: { spec: spec.model, parameters: task.numParams, inputShape: spec.inputShape, classes: spec.classes },
    rounds: spec.rounds,
    training: spec.training,
    weights: {
      rule: spec.aggregation.weights ?? 'samples',
      samplesCap: spec.aggregation.samplesCap ?? null,
      // Absent from the terms of tasks from before the rule, so that their hash, which consents signed, holds.
      ...(spec.aggregation.replicaDistance === undefined ? {} : { replicaDistance: spec.aggregation.replicaDistance }),
      ...(spec.aggregation.contributorsOnly === undefined
        ? {}
        : { contributorsOnly: spec.aggregation.contributorsOnly }),
      ...(spec.aggregation.replayDistance === undefined ? {} : { replayDistance: spec.aggregation.replayDistance }),
      ...(spec.aggregation.leaveOutNoise === undefined ? {} : { leaveOutNoise: spec.aggregation.leaveOutNoise }),
      ...(spec.aggregation.leaveOutByScore === undefined ? {} : { leaveOutByScore: spec.aggregation.leaveOutByScore }),
      ...robustTerms(spec.aggregation),
    },
    roundDeadlineSeconds: spec.roundDeadlineSeconds,
    // Only for tasks that name their holders: the terms (and hashes) of others stay as they were.
    ...(spec.holders ? { holders: { count: spec.holders.length, hash: holdersHash(spec.holders) } } : {}),
    sent: { clipNorm: spec.clipNorm, valueBits: task.zk.valueBits, proofs: spec.proofs },
    updatesPublished: spec.publicAudit,
    // Only for private tasks: the terms (and hashes) of others stay as they were.
    ...(spec.privacy ? { privacy: privacyTerms(spec) } : {}),
    rewards: {
      perRound: spec.rewards.perRound,
      baseShareBps: spec.rewards.baseShareBps,
      // Only when set: the terms (and hashes) of other tasks stay as they were.
      ...(spec.rewards.valueOver === undefined ? {} : { valueOver: spec.rewards.valueOver }),
      chain:
        spec.onchain && info.chain
          ? { chainId: info.chain.chainId, rewards: info.chain.rewards, token: info.chain.token }
          : null,
      challengeWindowSeconds: spec.rewards.challengeWindowSeconds,
      answerWindowSeconds: spec.rewards.answerWindowSeconds,
      claimPeriodSeconds: spec.rewards.claimPeriodSeconds,
      deadline: spec.rewards.deadline ?? null,
      // Only when asked for: the terms (and their hash, which consents signed) of other tasks stay as they were.
      ...(spec.rewards.stake && spec.rewards.stake !== '0' ? { stake: spec.rewards.stake } : {}),
    },
  };
}

/** keccak256 of the terms' canonical JSON: what a consent signs. */
export function termsHash(terms: TaskTerms): string {
  return keccak256(toUtf8Bytes(canonicalJson(terms)));
}

/** `GET /api/tasks/:id/terms`. */
export interface TermsView {
  terms: TaskTerms;
  termsHash: string;
}

const domain: TypedDataDomain = { name: 'zkfl', version: '1' };
const types = {
  Consent: [
    { name: 'taskKey', type: 'bytes32' },
    { name: 'termsHash', type: 'bytes32' },
  ],
};

const hex32 = z.string().regex(/^0x[0-9a-f]{64}$/);
export const consentSchema = z.strictObject({
  taskKey: hex32,
  termsHash: hex32,
  signature: z
    .string()
    .regex(/^0x[0-9a-fA-F]+$/)
    .max(200),
});
export type Consent = z.infer<typeof consentSchema>;

export async function signConsent(holder: Signer, taskKey: string, hash: string): Promise<Consent> {
  return {
    taskKey,
    termsHash: hash,
    signature: await holder.signTypedData(domain, types, { taskKey, termsHash: hash }),
  };
}

/** The address that signed the consent, or '' when the signature cannot be read. */
export function consentSigner(consent: Consent): string {
  try {
    return verifyTypedData(
      domain,
      types,
      { taskKey: consent.taskKey, termsHash: consent.termsHash },
      consent.signature,
    );
  } catch {
    return '';
  }
}
