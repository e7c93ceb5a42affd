/**
 * Closing a round once its accepted set is final: its updates scored and paid by the task's reward rule, the
 * aggregate step taken (each group of replicas once, contributors only), the new model evaluated, and the round's
 * audit record signed; then the round announced.
 */
import { createLogger } from '../../common/log.js';
import { type RoundRecord, type SignedRoundRecord, signRecord } from '../../protocol/audit.js';
import { committedRoot } from '../../contracts/accepted-set.js';
import { decodeValues } from '../../circuits/codec.js';
import { head } from '../../ml/dataset.js';
import { defaultScoringOptions, type RoundScoringInput, roundSeed, scoreRound } from '../../ml/scoring.js';
import { noiseGroups, roundSignal } from '../../ml/noise.js';
import { roundTrust, type Trust, trustAmong, trustedSum } from '../../ml/fltrust.js';
import {
  aggregateStep,
  groupedSum,
  groupTerms,
  keptGroups,
  namedReplicas,
  replicaGroups,
  type WeightedUpdate,
} from '../../ml/replicas.js';
import { privateStep } from '../../ml/private-step.js';
import type { RoundPrivacy } from '../../protocol/privacy.js';
import type { AggregationStrategy, StrategyState } from '../../ml/aggregation.js';
import { taskAmounts } from '../../protocol/reward-rule.js';
import { updateWeight } from '../../protocol/weights-rule.js';
import { replayDistanceOf } from '../../protocol/task-spec.js';
import { evaluate } from '../../ml/train.js';
import { setFlatWeights } from '../../ml/weights.js';
import { hashWeights } from '../../protocol/weights.js';
import type { ActiveRound, TaskRunnerContext } from './runner-context.js';

const log = createLogger('coordinator');

type RoundUpdate = WeightedUpdate & { address: string };

interface Metrics {
  accuracy: number;
  loss: number;
}

/** A closed round: the model it leads to, how that model does, and the round's signed record. */
export interface ClosedRound {
  next: Float32Array;
  metrics: Metrics;
  modelHashAfter: string;
  signed: SignedRoundRecord;
}

/** Scores, aggregates (updating `strategyState` in place), evaluates and signs the round; stores its scores. */
export async function closeRound(
  ctx: TaskRunnerContext,
  round: ActiveRound,
  strategy: AggregationStrategy,
  strategyState: StrategyState,
  privacy?: RoundPrivacy,
): Promise<ClosedRound> {
  const { task, model, evaluationSet } = ctx;
  const size = round.global.length;
  const updates = await roundUpdates(ctx, round);
  const groups = replicaGroups(updates, task.zk.chunkSize, task.spec.aggregation.replicaDistance ?? 0);
  const trusted = task.spec.aggregation.rule === 'fltrust' ? await trustIn(ctx, round, updates, groups) : undefined;
  const { scoring, leftOut } = await score(ctx, round, updates, groups, trusted?.trust);
  const step = privacy
    ? privateSum(ctx, { updates, groups, leftOut, trusted }, privacy)
    : // Each group of replicas counts once (ml/replicas.ts), and only contributors count (ml/scoring.ts).
      aggregateStep(updates, groups, leftOut, task.zk.chunkSize, size, task.spec.aggregation, trusted?.trust);
  // A private round does not publish its trust weights: like scores, they are facts about single updates.
  const aggregation = trusted && !privacy ? recordedTrust(trusted.trust, groups, updates) : undefined;
  const next = strategy.apply(round.global, step, strategyState);
  setFlatWeights(model, next);
  const metrics = await evaluate(model, evaluationSet, task.spec.inputShape, task.spec.classes);
  const modelHashAfter = hashWeights(next);
  const signed = await signedRecord(ctx, round, { metrics, modelHashAfter, scoring, privacy, aggregation });
  return { next, metrics, modelHashAfter, signed };
}

/**
 * DP-FedAvg's step (ml/private-step.ts): every update counts once (the spec allows nothing else), without those the
 * round left out, each for what it is alone (a zero, a replay, noise), over the expected count, noise added.
 */
function privateSum(
  { task }: TaskRunnerContext,
  round: {
    updates: RoundUpdate[];
    groups: number[][];
    leftOut: Set<number>;
    trusted?: { terms: Float64Array[]; trust: Trust };
  },
  privacy: RoundPrivacy,
): Float64Array {
  const { updates, groups, leftOut, trusted } = round;
  const size = task.numParams;
  const kept = keptGroups(groups, leftOut);
  const sum = trusted
    ? trustedSum(
        kept.map((g) => trusted.terms[g]!),
        trustAmong(trusted.trust, kept),
        size,
        task.spec.clipNorm,
      )
    : groupedSum(
        updates,
        kept.map((g) => groups[g]!),
        task.zk.chunkSize,
        size,
      ).sum;
  return privateStep(sum, privacy.noiseMultiplier, task.spec.clipNorm, task.spec.clientsPerRound.target);
}

/** The round's accepted updates as stored, in the order they were accepted, with their weights. */
async function roundUpdates({ task, storage }: TaskRunnerContext, round: ActiveRound): Promise<RoundUpdate[]> {
  const stored = await storage.updates.stored(task.id, round.number);
  return stored.map((update) => ({
    address: update.address,
    fractionBits: update.fractionBits,
    weight: updateWeight(task.spec.aggregation, update.numSamples),
    q: decodeValues(update.q, task.numParams, task.zk.valueBits)!,
  }));
}

/**
 * Scores the round's accepted updates on the scoring set (ml/scoring.ts) and splits its pool by the task's reward
 * rule; both are stored with each update before the round's record is signed.
 */
async function score(
  ctx: TaskRunnerContext,
  round: ActiveRound,
  updates: RoundUpdate[],
  groups: number[][],
  trust: Trust | undefined,
): Promise<{ scoring: RoundRecord['scoring']; leftOut: Set<number> }> {
  const { task, storage, model, evaluationSet } = ctx;
  const { rewards, seed, aggregation } = task.spec;
  const scored = await scoreRound({
    model,
    global: round.global,
    updates,
    groups,
    chunkSize: task.zk.chunkSize,
    scoringSet: head(evaluationSet, rewards.scoringExamples),
    inputShape: task.spec.inputShape,
    classes: task.spec.classes,
    options: {
      ...defaultScoringOptions,
      maxEvaluations: rewards.scoringBudget,
      seed: roundSeed(seed, round.number),
    },
    ...(aggregation.contributorsOnly ? { contributorsOnly: contributorsRule(ctx, round, updates, groups) } : {}),
    ...(trust ? { trust } : {}),
  });
  const scoredNow = updates.map((update, k) => ({ address: update.address, score: scored.scores[k]! }));
  const earlier = rewards.valueOver === 'task' ? await storage.updates.scoresBefore(task.id, round.number) : [];
  const amounts = taskAmounts([...earlier, scoredNow], BigInt(rewards.perRound), rewards).at(-1)!;
  const replicas = namedReplicas(
    groups,
    updates.map((update) => update.address),
  );
  await storage.updates.setScores(
    task.id,
    round.number,
    updates.map((update, k) => ({ address: update.address, score: scored.scores[k]!, amount: String(amounts[k]) })),
  );
  log.info(`round ${round.number} scored`, {
    task: task.id,
    method: scored.method,
    evaluations: scored.evaluations,
    seconds: scored.seconds.toFixed(2),
  });
  const leftOut = scored.leftOut.map(({ index, why }) => ({ address: updates[index]!.address, why }));
  const scoring = {
    method: scored.method,
    evaluations: scored.evaluations,
    seconds: scored.seconds,
    roundGain: scored.roundGain,
    examples: Math.min(rewards.scoringExamples, evaluationSet.count),
    pool: rewards.perRound,
    ...(replicas.length > 0 ? { replicas } : {}),
    ...(leftOut.length > 0 ? { leftOut } : {}),
  };
  return { scoring, leftOut: new Set(scored.leftOut.map(({ index }) => index)) };
}

/** `aggregation.contributorsOnly`: what the round leaves out before its game — replays of last round's step, and noise. */
function contributorsRule(
  ctx: TaskRunnerContext,
  round: ActiveRound,
  updates: RoundUpdate[],
  groups: number[][],
): NonNullable<RoundScoringInput['contributorsOnly']> {
  const { aggregation } = ctx.task.spec;
  return {
    previousStep: previousStep(ctx, round),
    replayDistance: replayDistanceOf(aggregation),
    ...(aggregation.leaveOutNoise ? { noise: noiseIn(ctx, round, updates, groups) } : {}),
    ...(aggregation.leaveOutByScore === false ? { byScore: false } : {}),
  };
}

/** The round's groups that point nowhere the owner's scoring set asks for (ml/noise.ts). */
function noiseIn(
  { task, model, evaluationSet }: TaskRunnerContext,
  round: ActiveRound,
  updates: RoundUpdate[],
  groups: number[][],
): number[] {
  const { spec } = task;
  const scoring = {
    set: head(evaluationSet, spec.rewards.scoringExamples),
    inputShape: spec.inputShape,
    classes: spec.classes,
  };
  return noiseGroups(roundSignal(model, round.global, { updates, groups, chunkSize: task.zk.chunkSize }, scoring));
}

/** FLTrust's trust in each of the round's groups (ml/fltrust.ts), its root the task's scoring set. */
async function trustIn(
  { task, model, evaluationSet }: TaskRunnerContext,
  round: ActiveRound,
  updates: RoundUpdate[],
  groups: number[][],
): Promise<{ terms: Float64Array[]; trust: Trust }> {
  const { spec } = task;
  const terms = groupTerms(updates, groups, task.zk.chunkSize, round.global.length);
  const root = {
    set: head(evaluationSet, spec.rewards.scoringExamples),
    training: spec.training,
    exponent: spec.aggregation.trustExponent,
  };
  const options = { inputShape: spec.inputShape, classes: spec.classes, seed: roundSeed(spec.seed, round.number) };
  return { terms, trust: await roundTrust(model, round.global, terms, root, options) };
}

/** The round record's account of FLTrust: ‖g₀‖ and each accepted update's trust (its group's). */
function recordedTrust(
  trust: Trust,
  groups: number[][],
  updates: RoundUpdate[],
): NonNullable<RoundRecord['aggregation']> {
  const trustOf = new Map(groups.flatMap((members, g) => members.map((k) => [k, trust.weights[g]!] as const)));
  return {
    rootNorm: trust.rootNorm,
    trust: updates.map((update, k) => ({ address: update.address, trust: trustOf.get(k)! })),
  };
}

/** w_r − w_{r−1}: the step the model took last round, which an update may replay; none in round 1. */
function previousStep({ task, checkpoints }: TaskRunnerContext, round: ActiveRound): Float32Array | undefined {
  if (round.number === 1) return undefined;
  const before = checkpoints.loadWeights(task.id, round.number - 1);
  return round.global.map((w, i) => w - before[i]!);
}

/** The round's audit record, signed with the coordinator's key. */
async function signedRecord(
  { task, storage, identity }: TaskRunnerContext,
  round: ActiveRound,
  outcome: {
    metrics: Metrics;
    modelHashAfter: string;
    scoring: RoundRecord['scoring'];
    privacy?: RoundPrivacy;
    aggregation?: RoundRecord['aggregation'];
  },
): Promise<SignedRoundRecord> {
  const { metrics, modelHashAfter, scoring, privacy, aggregation } = outcome;
  const accepted = await storage.updates.audited(task.id, round.number, task.spec.publicAudit);
  const view = (await storage.rounds.get(task.id, round.number))!;
  const record: RoundRecord = {
    taskId: task.id,
    round: round.number,
    coordinator: await identity.getAddress(),
    modelHashBefore: round.modelHash,
    modelHashAfter,
    accuracy: metrics.accuracy,
    loss: metrics.loss,
    acceptedRoot: committedRoot(accepted),
    accepted,
    scoring,
    rejected: view.rejected.map(({ address, code, reason }) => ({ address, code, reason })),
    rejectedUnlisted: view.rejectedUnlisted,
    ...(privacy ? { privacy } : {}),
    ...(aggregation ? { aggregation } : {}),
  };
  return signRecord(identity, record);
}

/** Tells the log, the task's clients and the coordinator's listeners that a round is done, and how it went. */
export async function announceRound(ctx: TaskRunnerContext, round: ActiveRound, metrics: Metrics): Promise<void> {
  const { task, storage, events, directory } = ctx;
  const record = (await storage.rounds.get(task.id, round.number))!;
  const rejected = record.rejected.length + record.rejectedUnlisted;
  const seconds = (Date.now() - round.openedAt) / 1000;
  log.info(`round ${round.number} done`, {
    task: task.id,
    accuracy: metrics.accuracy.toFixed(4),
    loss: metrics.loss.toFixed(4),
    participants: round.sum.count,
    rejected,
    seconds: seconds.toFixed(1),
  });
  const summary = {
    taskId: task.id,
    round: round.number,
    ...metrics,
    participants: round.sum.count,
    proofsVerified: record.proofsVerified,
    proofsRejected: record.proofsRejected,
  };
  for (const address of directory.connected(task.id)) directory.send(task.id, address, 'round:end', summary);
  events.emit('round:end', { ...summary, rejected, seconds });
}
