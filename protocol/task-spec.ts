/**
 * A training task as a model owner describes it (`zkfl task create --config task.json` or `POST /api/tasks`).
 * Every field is validated here, once, and defaults are filled in.
 */
import { z } from 'zod';
import { parseOrThrow } from './validate.js';

const positiveInt = z.number().int().positive();
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'expected an Ethereum address');
const layerSizes = z.array(positiveInt).max(8);

export const modelSpecSchema = z.union([
  z.strictObject({
    preset: z.literal('mlp'),
    /** Hidden layer widths. @default [64] */
    hidden: layerSizes.optional(),
  }),
  z.strictObject({
    preset: z.literal('cnn'),
    /** Filters per conv + max-pool block. @default [6, 16] (NIID-Bench's simple CNN) */
    filters: layerSizes.min(1).optional(),
    /** Square kernel size of every conv layer. @default 5 */
    kernelSize: positiveInt.max(11).optional(),
    /** Dense layer widths after the conv blocks. @default [120, 84] */
    hidden: layerSizes.optional(),
  }),
  z.strictObject({
    /** A TF.js layers-model topology (a model.json's `modelTopology`); it must output `classes` logits. */
    topology: z.record(z.string(), z.unknown()),
  }),
]);
export type ModelSpec = z.infer<typeof modelSpecSchema>;

export const optimizerNames = ['sgd', 'momentum', 'adam'] as const;

export const trainingSchema = z.strictObject({
  /** Local passes over the client's data per round. @default 1 */
  localEpochs: positiveInt.max(100).default(1),
  /** @default 32 */
  batchSize: positiveInt.max(4096).default(32),
  /** @default 0.01 */
  learningRate: z.number().positive().max(10).default(0.01),
  /** Client optimizer; `momentum` is SGD with momentum 0.9. @default 'sgd' */
  optimizer: z.enum(optimizerNames).default('sgd'),
  /** FedProx proximal coefficient μ: adds μ/2·‖w − w_global‖² to the local loss. 0 is plain FedAvg. @default 0 */
  proximalMu: z.number().min(0).max(100).default(0),
});
export type TrainingConfig = z.infer<typeof trainingSchema>;

export const strategyNames = ['fedavg', 'fedavgm', 'fedadam'] as const;

export const aggregationSchema = z
  .strictObject({
    /** fedavg: w += Δ̄. fedavgm: server momentum. fedadam: server Adam (Reddi et al., 2021). @default 'fedavg' */
    strategy: z.enum(strategyNames).default('fedavg'),
    /** Server learning rate η. @default 1 for fedavg and fedavgm, 0.01 for fedadam */
    serverLearningRate: z.number().positive().max(100).optional(),
    /** fedavgm momentum β. @default 0.9 */
    serverMomentum: z.number().min(0).max(1).default(0.9),
    /** fedadam moment decay rates and adaptivity τ. @default 0.9, 0.99, 1e-3 */
    beta1: z.number().min(0).max(1).default(0.9),
    beta2: z.number().min(0).max(1).default(0.99),
    epsilon: z.number().positive().default(1e-3),
    /**
     * What an accepted update weighs in the aggregate, and so in every coalition its score is computed on: `equal`
     * (one client, one weight: a sample count is the client's word, which nothing checks, so it cannot buy
     * influence) or `samples` (FedAvg's n_k: the declared count, counted at most as `samplesCap`). Tasks created before
     * this rule weighed by the declared count. @default 'equal'
     */
    weights: z.enum(['equal', 'samples']).default('equal'),
    /**
     * Updates within this distance of one another, relative to the larger's norm (‖Δ_i − Δ_j‖ ≤ d·max(‖Δ_i‖, ‖Δ_j‖)),
     * are replicas: one contribution under several keys, counted once in the aggregate and scored as one player whose
     * value they split equally (ml/replicas.ts). 0 counts every update alone, as tasks created before this rule did.
     * @default 0.25
     */
    replicaDistance: z.number().min(0).max(1).default(0.25),
    /**
     * With `contributorsOnly`: an update within this distance of the last round's step w_r − w_{r−1}, relative as
     * replicas are (‖Δ − s‖ ≤ d·max(‖Δ‖, ‖s‖)), replays a step the model already took and is left out. 0 tests no
     * replay. Tasks created before this field tested replays at their `replicaDistance` (`replayDistanceOf`).
     * @default 0.25
     */
    replayDistance: z.number().min(0).max(1).default(0.25),
    /**
     * Only contributors enter a round's aggregate: groups of updates worth nothing in the round's game (a score ≤ 0:
     * zero updates, noise that helps no one, harmful updates) and updates that replay the last round's step (within
     * `replayDistance` of it) are left out of the aggregate and of the game, and score 0 (ml/scoring.ts). The round
     * record names them. false aggregates every accepted update, as tasks created before this rule did. Under
     * `rule: fltrust`, whose trust already weighs a harmful direction 0, only zeros, replays and noise are left out.
     * @default true
     */
    contributorsOnly: z.boolean().default(true),
    /**
     * With `contributorsOnly`: groups the round's game finds worth nothing are left out too. false leaves out only
     * what a test of one update alone finds (zeros, replays, noise): every real update stays in the model, whatever
     * the owner's scoring set says of it, and free riders are still not paid. A private task needs false: there an
     * update's place in the sum may hang on nothing but itself. Tasks created before this field: true.
     * @default true
     */
    leaveOutByScore: z.boolean().default(true),
    /**
     * With `contributorsOnly`: updates that point nowhere the owner's data asks for — whose share of length in the
     * span of the scoring set's per-class loss gradients is no more than a random direction's (ml/noise.ts) — are
     * left out before the game as noise, and score 0. false leaves them to the game, as tasks created before this
     * rule did. @default true
     */
    leaveOutNoise: z.boolean().default(true),
    /**
     * How the round's terms (each group of replicas once, contributors only) are combined into its step: `mean` (FedAvg)
     * or a Byzantine-robust rule (ml/robust.ts): `median` and `trimmedMean` (coordinate-wise), `krum` (multi-Krum with
     * `krumSelect` > 1), `fltrust` (ml/fltrust.ts: each term weighed by how well it points where the owner's scoring
     * set, trained on, asks the model to go, at that update's length). Robust rules weigh updates equally.
     * @default 'mean'
     */
    rule: z.enum(['mean', 'median', 'trimmedMean', 'krum', 'fltrust']).default('mean'),
    /** trimmedMean: the fraction β of values dropped at each end of every coordinate. @default 0.1 */
    trim: z.number().min(0).lt(0.5).default(0.1),
    /** krum: the most poisoned updates a round is assumed to hold (f). @default 1 */
    byzantine: z.number().int().min(0).max(100_000).default(1),
    /** krum: how many of the best-scored updates are averaged (1: Krum). @default 1 */
    krumSelect: positiveInt.max(100_000).default(1),
    /** fltrust: a term's trust is ReLU(cos(Δ, g₀)) to this power (the paper's FLTrust: 1). @default 2 */
    trustExponent: z.number().min(1).max(4).default(2),
    /** With `weights: samples`, the most a declared sample count counts as. @default 2^20 */
    samplesCap: z
      .number()
      .int()
      .positive()
      .max(2 ** 20)
      .optional(),
  })
  // A robust rule takes each update as one voice: declared counts have no say in a median or a Krum selection.
  .refine((value) => value.rule === 'mean' || value.weights === 'equal', {
    message: 'a robust rule weighs updates equally: set weights equal',
    path: ['weights'],
  });
export type AggregationConfig = z.infer<typeof aggregationSchema>;

export const quantizationSchema = z.strictObject({
  /**
   * Bits per quantized value; each chunk of the update is scaled by its own power of two so that its largest value
   * fills them, and rounded without bias, so fewer bits add noise, not drift. 6 costs 8 constraints per parameter
   * in the proof (8 bits: 10.4, 16 bits: 19.9). @default 6
   */
  bits: z.union([z.literal(6), z.literal(8), z.literal(16)]).default(6),
  /** `stochastic` rounding is unbiased (E[q·2^−f] is the clipped value); `nearest` is deterministic. @default 'stochastic' */
  rounding: z.enum(['stochastic', 'nearest']).default('stochastic'),
});
export type QuantizationConfig = z.infer<typeof quantizationSchema>;

/**
 * User-level differential privacy (DP-FedAvg: McMahan et al., ICLR 2018). Each round's aggregate is the sum of its
 * accepted updates — each within the proven norm bound `clipNorm`, the sensitivity — plus Gaussian noise of standard
 * deviation σ·clipNorm drawn from a cryptographically secure source, over the expected number of updates
 * (`clientsPerRound.target`). The accountant (protocol/privacy.ts) composes the rounds; a task whose next round
 * would spend more than `targetEpsilon` ends instead.
 */
export const privacySchema = z
  .strictObject({
    /** δ of the (ε, δ) guarantee: below 1/population (otherwise one holder's data could leak outright). */
    delta: z.number().positive().lt(1),
    /** σ, the noise's standard deviation over the clip. @default calibrated from targetEpsilon */
    noiseMultiplier: z.number().positive().max(1000).optional(), // protocol/privacy.ts maxNoiseMultiplier
    /** The ε the task may spend in all: no round runs past it. @default none (ε is accounted and shown) */
    targetEpsilon: z.number().positive().max(1000).optional(),
    /**
     * How many holders the owner expects the rounds to sample from: what σ is calibrated for when the spec names
     * only `targetEpsilon`, and what bounds δ. Each round accounts for the holders it really sampled from.
     */
    population: positiveInt.max(100_000_000),
  })
  .refine((value) => value.noiseMultiplier !== undefined || value.targetEpsilon !== undefined, {
    message: 'name noiseMultiplier, targetEpsilon or both',
  })
  .refine((value) => value.delta < 1 / value.population, {
    message: 'delta must be below 1/population',
    path: ['delta'],
  });
export type PrivacyConfig = z.infer<typeof privacySchema>;

const tokenAmount = z.string().regex(/^(0|[1-9][0-9]{0,38})$/, 'expected token base units as a decimal string');

export const rewardsSchema = z.strictObject({
  /**
   * Token base units each round's pool pays, split among its accepted contributors by contribution score. An
   * `onchain` task's escrow must hold exactly this per round. @default '0' (scores are kept, nothing is paid)
   */
  perRound: tokenAmount.default('0'),
  /** Part of each round's pool split equally among its accepted contributors, in basis points. @default 0 */
  baseShareBps: z.number().int().min(0).max(10_000).default(0),
  /**
   * What the value part of the pool follows (protocol/reward-rule.ts). 'round': each round's, that round's scores
   * alone. 'task': the value parts of all rounds so far, by each address's positive scores summed over them; a round
   * pays its positive scorers what they are short of that share, so one round's luck moves little pay, and what a
   * round leaves unallotted is carried to the next. Summed values are the federated Shapley value (Wang et al.,
   * "A Principled Approach to Data Valuation for Federated Learning", 2020). A task stored without the field (created
   * before it) pays by 'round'. @default 'task'
   */
  valueOver: z.enum(['round', 'task']).default('task'),
  /** Evaluation examples (the first N of `evaluation`) contribution scores are computed on. @default 500 */
  scoringExamples: positiveInt.max(100_000).default(500),
  /** Model evaluations a round's scoring may spend at most: bounds its time in large rounds. @default 2000 */
  scoringBudget: positiveInt.max(1_000_000).default(2000),
  /** Seconds after a round closes on-chain during which its leaves may be challenged; claims wait for it. @default 600 */
  challengeWindowSeconds: positiveInt.max(30 * 86_400).default(600),
  /** Seconds the coordinator has to answer a challenge or an omission claim. @default 600 */
  answerWindowSeconds: positiveInt.max(30 * 86_400).default(600),
  /**
   * Seconds contributors have, at the least, to claim a round once its challenge and answer windows passed: no
   * round opens later than the deadline minus both windows and this. At least an hour. @default 3 days
   */
  claimPeriodSeconds: positiveInt
    .min(3600)
    .max(365 * 86_400)
    .default(3 * 86_400),
  /**
   * When the task's escrow ends (unix seconds): afterwards nothing is paid, and the owner takes back what was not
   * claimed. Fixed when the task is created, part of the terms holders sign, and the escrow's deadline. @default at
   * creation: time for every round at its deadline twice over, both windows and the claim period
   */
  deadline: positiveInt.max(2 ** 32 - 1).optional(),
  /**
   * Tokens each address locks in the escrow before it may take part (`onchain` tasks): forfeited to the owner if a
   * leaf of its is voided, returned once no leaf of the task can be challenged any more. It makes every key cost
   * something to hold while the task runs; it does not stop one holder with the tokens from using many keys.
   * @default '0' (none)
   */
  stake: tokenAmount.default('0'),
  /** Tokens the coordinator bonds before round 1 (unanswered disputes are paid from it). @default perRound */
  coordinatorBond: tokenAmount.optional(),
  /**
   * Tokens a challenger puts up: at least a thousandth of `perRound` per chunk of the model (what a challenge makes
   * the coordinator verify). @default the larger of perRound / 20 and that floor, at least 1
   */
  challengeBond: tokenAmount.optional(),
});
export type RewardsConfig = z.infer<typeof rewardsSchema>;

/** The least a challenge bond may be for a model of `chunks` chunks: a thousandth of a round's pool per chunk. */
export function challengeBondFloor(perRound: bigint, chunks: number): bigint {
  return (perRound * BigInt(chunks) + 999n) / 1000n;
}

/** The bonds a task's rewards imply for a model of `chunks` chunk proofs, defaults filled in. */
export function bondsOf(rewards: RewardsConfig, chunks: number): { coordinatorBond: bigint; challengeBond: bigint } {
  const perRound = BigInt(rewards.perRound);
  const floor = challengeBondFloor(perRound, chunks);
  const byDefault = [perRound / 20n, floor, 1n].reduce((a, b) => (a > b ? a : b));
  return {
    coordinatorBond: BigInt(rewards.coordinatorBond ?? rewards.perRound),
    challengeBond: BigInt(rewards.challengeBond ?? String(byDefault)),
  };
}

/**
 * The latest a round of an on-chain task may open (unix seconds) and leave its contributors the claim period before
 * the deadline: ZkflRewards.lastOpening's twin. Infinity for a task without a deadline.
 */
export function lastOpening(rewards: RewardsConfig): number {
  if (rewards.deadline === undefined) return Infinity;
  return rewards.deadline - rewards.challengeWindowSeconds - rewards.answerWindowSeconds - rewards.claimPeriodSeconds;
}

/** Seconds from the start of a task's first round until its escrow may end, for the rounds to run and be claimed. */
export function settlementSeconds(spec: Pick<TaskSpec, 'rounds' | 'roundDeadlineSeconds' | 'rewards'>): number {
  const { challengeWindowSeconds, answerWindowSeconds, claimPeriodSeconds } = spec.rewards;
  return spec.rounds * spec.roundDeadlineSeconds + challengeWindowSeconds + answerWindowSeconds + claimPeriodSeconds;
}

export const taskSpecSchema = z
  .strictObject({
    /** Free text shown in listings. */
    name: z.string().max(200).default('task'),
    /** What the model is for and what it will be used for, in the owner's words: shown to data holders before they agree. */
    purpose: z.string().max(2000).default(''),
    /** The model owner's Ethereum address, when it is known up front (an `onchain` escrow must come from it). */
    owner: address.optional(),
    /**
     * Only these addresses may take part: the owner's known holders. The coordinator refuses any other with
     * NOT_INVITED before it consents or trains, the terms carry the list's hash, and `zkfl verify` names an accepted
     * update from outside it. Keys are free: a task open to anyone pays one person with many keys as many people
     * (protocol/holders.ts). The list is public with the task. @default anyone
     */
    holders: z
      .array(address)
      .min(1)
      .max(10_000)
      .refine((list) => new Set(list.map((entry) => entry.toLowerCase())).size === list.length, {
        message: 'an address is listed twice',
      })
      .optional(),
    model: modelSpecSchema,
    /** Shape of one example. @default [28, 28, 1] */
    inputShape: z.array(positiveInt).min(1).max(4).default([28, 28, 1]),
    /** @default 10 */
    classes: positiveInt.min(2).max(10_000).default(10),
    rounds: positiveInt.max(100_000),
    clientsPerRound: z
      .strictObject({
        /** A round aggregates only when at least this many valid updates arrived; otherwise it is retried. */
        min: positiveInt,
        /** How many clients are sampled per round (at most 100,000: integer aggregation stays exact in float64). */
        target: positiveInt.max(100_000),
        /**
         * A round short of `min` when its deadline passed and no client it has not asked is connected: `wait` keeps
         * it open for new clients (and late answers), `end` ends the task, saying why.
         */
        whenShort: z.enum(['wait', 'end']).default('wait'),
      })
      .refine((value) => value.target >= value.min, { message: 'target must be >= min', path: ['target'] }),
    training: trainingSchema.default(trainingSchema.parse({})),
    aggregation: aggregationSchema.default(aggregationSchema.parse({})),
    /**
     * L2 norm τ every update is clipped to before it is quantized: each of its K chunks to τ/√K, so the whole
     * update respects τ. Each chunk's proof shows Σ (q·2^−f)² ≤ τ²/K at the scale 2^f the chunk was quantized at.
     * @default 5
     */
    clipNorm: z.number().positive().max(1e6).default(5),
    /** How updates are quantized before they are committed and proven. @default {bits: 6, rounding: 'stochastic'} */
    quantization: quantizationSchema.default(quantizationSchema.parse({})),
    /** How each round's pool is split and settled. */
    rewards: rewardsSchema.default(rewardsSchema.parse({})),
    /**
     * Require a Groth16 proof of every update. Turning it off leaves clipping, quantization and integer
     * aggregation as they are; it exists to measure what the proofs cost. @default true
     */
    proofs: z.boolean().default(true),
    /**
     * Settle the task on-chain: round 1 waits until the model owner has escrowed the reward pool in the rewards
     * contract for this task (coordinator, circuit, chunks and bound as here); then the coordinator posts each
     * round's H_r and accepted set, and clients claim their shares. Needs a coordinator started with a chain.
     * @default false
     */
    onchain: z.boolean().default(false),
    /**
     * Publish every accepted update (its quantized values and salt) and the initial weights in the audit API, so that
     * anyone can recompute each round's aggregate. The data holders' updates become public. @default false
     */
    publicAudit: z.boolean().default(false),
    /**
     * Seconds a client has to send its update once a round starts; at least 1 (an attempt that timed out at once
     * would be retried in a busy loop). @default 300
     */
    roundDeadlineSeconds: z.number().min(1).max(86_400).default(300),
    /**
     * The owner's held-out evaluation set (it scores contributions and measures accuracy): an upload to the
     * coordinator (`upload`: the id `POST /api/uploads` answered; `zkfl task create --evaluation FILE` uploads it), or
     * data the coordinator's operator provides (`path`: a CSV file, an IDX prefix or a directory, named relative to
     * the coordinator's `--data-root`). `limit` keeps the first N examples.
     */
    evaluation: z
      .strictObject({
        upload: z
          .string()
          .regex(/^[0-9a-f]{64}$/, 'expected an upload id (64 hex digits)')
          .optional(),
        path: z.string().min(1).max(1000).optional(),
        limit: positiveInt.optional(),
      })
      .refine((value) => (value.upload === undefined) !== (value.path === undefined), {
        message: 'name the evaluation set by exactly one of upload and path',
      }),
    /** Seeds model initialisation and client sampling. @default 1 */
    seed: z.number().int().min(0).default(1),
    /** User-level differential privacy for the model and everything published about it. @default none */
    privacy: privacySchema.optional(),
  })
  .superRefine((spec, context) => {
    for (const problem of privacyConflicts(spec)) context.addIssue({ code: 'custom', ...problem });
  });
export type TaskSpec = z.infer<typeof taskSpecSchema>;

/**
 * How close to the last round's step an update replays it (`aggregation.replayDistance`); a task stored before that
 * field tested replays at its `replicaDistance`, and an older one at none.
 */
export function replayDistanceOf(aggregation: Pick<AggregationConfig, 'replayDistance' | 'replicaDistance'>): number {
  return aggregation.replayDistance ?? aggregation.replicaDistance ?? 0;
}

/**
 * What a private task may not ask for: the noise covers one holder's update of norm ≤ clipNorm counted once, so every
 * accepted update must enter the aggregate with the same weight whatever the others hold (no declared counts, no
 * replicas merged, no update left out by its score among the others'), and no update may be published.
 * `contributorsOnly` may stay with `leaveOutByScore` false: it then leaves out only what a test of the update alone,
 * against public values, finds (a zero, a replay of the released step, noise); adding or removing one holder still
 * moves the sum by at most `clipNorm`.
 */
function privacyConflicts(
  spec: Pick<TaskSpec, 'privacy' | 'aggregation' | 'publicAudit' | 'clientsPerRound'>,
): Array<{ path: string[]; message: string }> {
  if (!spec.privacy) return [];
  const conflicts: Array<{ path: string[]; message: string }> = [];
  const refuse = (path: string[], message: string): void => void conflicts.push({ path, message });
  if (spec.aggregation.weights !== 'equal') refuse(['aggregation', 'weights'], 'a private task weighs updates equally');
  // FLTrust weighs each update by its own direction alone, so one holder still moves the sum by at most the clip.
  if (spec.aggregation.rule !== 'mean' && spec.aggregation.rule !== 'fltrust')
    refuse(
      ['aggregation', 'rule'],
      "a private task's noise covers one update's share of a sum: its rule is mean or fltrust",
    );
  if (spec.aggregation.replicaDistance !== 0)
    refuse(['aggregation', 'replicaDistance'], 'a private task counts every update alone: set replicaDistance 0');
  if (spec.aggregation.contributorsOnly && spec.aggregation.leaveOutByScore)
    refuse(
      ['aggregation', 'leaveOutByScore'],
      "a private task leaves an update out only for what it is alone, not for its score among the others': set leaveOutByScore false",
    );
  if (spec.publicAudit) refuse(['publicAudit'], 'a private task publishes no update');
  if (spec.privacy.population < spec.clientsPerRound.target)
    refuse(['privacy', 'population'], 'population must be at least clientsPerRound.target');
  return conflicts;
}
export type TaskSpecInput = z.input<typeof taskSpecSchema>;

export function parseTaskSpec(value: unknown): TaskSpec {
  return parseOrThrow(taskSpecSchema, value, 'task spec');
}
