/**
 * The public audit's recomputation (publicAudit tasks publish every accepted update and the scoring set): each
 * chunk commitment from the published values and salt, each round's aggregate replayed in the recorded order, and
 * each score computed again as the coordinator computed it. A step of verifier/audit.ts that needs TF.js.
 */
import type * as tf from '@tensorflow/tfjs';
import { decodeBase64 } from 'ethers';
import { decodeValues } from '../circuits/codec.js';
import { type CircuitParams, circuitNamed } from '../circuits/params.js';
import { commitmentProblem } from '../circuits/commitment.js';
import { alignedBuffer } from '../common/bytes.js';
import { createStrategy, initialStrategyState } from '../ml/aggregation.js';
import { aggregateStep, groupTerms, namedReplicas, replicaGroups } from '../ml/replicas.js';
import type { Dataset } from '../ml/dataset.js';
import { roundTrust, type Trust } from '../ml/fltrust.js';
import { roundSignal, supportsVerdict } from '../ml/noise.js';
import { initBackend } from '../ml/backend.js';
import { buildModel } from '../ml/models.js';
import { defaultScoringOptions, roundSeed, type ScoredUpdate, scoreRound } from '../ml/scoring.js';
import { updateWeight } from '../protocol/weights-rule.js';
import { replayDistanceOf } from '../protocol/task-spec.js';
import type { AuditBundle, RoundRecord } from '../protocol/audit.js';
import { fromBytes, hashWeights } from '../protocol/weights.js';
import { type AuditContext, statementOf } from './audit.js';
import type { ReportProblem } from './problems.js';

/** publicAudit: each chunk commitment from the published q and salt, each aggregate and score from the updates. */
export async function recomputePublished({ bundle, problem }: AuditContext): Promise<void> {
  const { task } = bundle;
  if (!bundle.initialWeights) {
    problem(null, 'public-audit', 'the task publishes its updates but the bundle lacks the initial weights');
    return;
  }
  const params = circuitNamed(task.zk.circuit);
  const strategy = createStrategy(task.spec.aggregation);
  let global = fromBytes(decodeBase64(bundle.initialWeights));
  // The weights the previous round trained from: its step is what a replay copies.
  let previous: Float32Array | undefined;
  const state = initialStrategyState(strategy, global.length);
  if (!bundle.scoringSet) problem(null, 'public-audit', 'the bundle lacks the scoring set: scores are not recomputed');
  await initBackend();
  const model = await buildModel(task.spec.model, task.spec.inputShape, task.spec.classes, task.spec.seed);
  try {
    for (const { record } of bundle.rounds) {
      const updates = await recomputeRound(bundle, record, params, problem);
      if (!updates) return;
      const groups = replicaGroups(updates, params.chunkSize, task.spec.aggregation.replicaDistance ?? 0);
      const replicas = namedReplicas(
        groups,
        record.accepted.map((update) => update.address),
      );
      if (JSON.stringify(replicas) !== JSON.stringify(record.scoring.replicas ?? [])) {
        problem(
          record.round,
          'replicas',
          `recorded replica groups ${JSON.stringify(record.scoring.replicas ?? [])}, recomputed ${JSON.stringify(replicas)}`,
        );
      }
      const addresses = record.accepted.map((update) => update.address);
      const leftOut = new Set((record.scoring.leftOut ?? []).map(({ address }) => addresses.indexOf(address)));
      const trust = task.spec.aggregation.rule === 'fltrust' ? recordedTrust(record, groups) : undefined;
      if (trust === null) {
        problem(record.round, 'trust', "the record does not give each accepted update its group's trust, in order");
        return;
      }
      if (bundle.scoringSet) {
        const round = { record, global, previous, updates, groups, trust };
        if (trust) await recomputeTrust(bundle, { ...round, trust }, model, problem);
        await recomputeScores(bundle, round, model, problem);
      }
      if (updates.length === 0) continue;
      previous = global;
      global = strategy.apply(
        global,
        aggregateStep(updates, groups, leftOut, params.chunkSize, global.length, task.spec.aggregation, trust),
        state,
      );
      if (hashWeights(global) !== record.modelHashAfter) {
        problem(record.round, 'aggregate', 'the published updates do not aggregate to the recorded model');
        return;
      }
    }
  } finally {
    model.dispose();
  }
}

/**
 * FLTrust's trust as the record gives it, one weight per group of replicas; null unless the record names every
 * accepted update, in order, each member of a group with its group's trust.
 */
function recordedTrust(record: RoundRecord, groups: number[][]): Trust | null {
  const recorded = record.aggregation?.trust ?? [];
  const accepted = record.accepted.map(({ address }) => address);
  if (!record.aggregation || JSON.stringify(recorded.map(({ address }) => address)) !== JSON.stringify(accepted)) {
    return null;
  }
  const weights = groups.map((members) => recorded[members[0]!]!.trust);
  if (groups.some((members, g) => members.some((k) => recorded[k]!.trust !== weights[g]))) return null;
  return { rootNorm: record.aggregation.rootNorm, weights };
}

/** The round's root update trained again on the scoring set: ‖g₀‖ and every trust as recorded, within a tolerance. */
async function recomputeTrust(
  bundle: AuditBundle,
  { record, global, updates, groups, trust }: ReplayedRound & { trust: Trust },
  model: tf.LayersModel,
  problem: ReportProblem,
): Promise<void> {
  const { spec, zk } = bundle.task;
  const terms = groupTerms(updates, groups, zk.chunkSize, global.length);
  const root = { set: scoringSetOf(bundle), training: spec.training, exponent: spec.aggregation.trustExponent ?? 2 };
  const options = { inputShape: spec.inputShape, classes: spec.classes, seed: roundSeed(spec.seed, record.round) };
  const recomputed = await roundTrust(model, global, terms, root, options);
  // Training on another machine may differ in the last bits, and SGD carries that on: agree to a part in 10^3.
  const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(b));
  const off = trust.weights.some((weight, g) => !close(weight, recomputed.weights[g]!));
  if (!close(trust.rootNorm, recomputed.rootNorm) || off) {
    problem(
      record.round,
      'trust',
      `recorded ‖g₀‖ ${trust.rootNorm} and trust ${JSON.stringify(trust.weights)}, recomputed ${recomputed.rootNorm} and ${JSON.stringify(recomputed.weights)}`,
    );
  }
}

/** The round's published updates, each checked against its commitment; undefined when one is missing. */
async function recomputeRound(
  bundle: AuditBundle,
  record: RoundRecord,
  params: CircuitParams,
  problem: ReportProblem,
): Promise<ScoredUpdate[] | undefined> {
  const { task } = bundle;
  const updates: ScoredUpdate[] = [];
  {
    for (const update of record.accepted) {
      if (!update.update) {
        problem(record.round, 'public-audit', `${update.address}: the update is not published`);
        return;
      }
      const q = decodeValues(decodeBase64(update.update.q), task.numParams, task.zk.valueBits);
      if (!q) {
        problem(record.round, 'public-audit', `${update.address}: the published update has the wrong length`);
        return;
      }
      const binding = await commitmentProblem(
        { ...update, q, salt: BigInt(update.update.salt) },
        statementOf(task, record, update.address),
        params,
      );
      if (binding) {
        problem(record.round, 'public-audit', `${update.address}: the published update is not the committed one`);
      }
      updates.push({
        q,
        weight: updateWeight(task.spec.aggregation, update.numSamples),
        fractionBits: update.fractionBits,
      });
    }
  }
  return updates;
}

/** The bundle's scoring set as a dataset. */
function scoringSetOf(bundle: AuditBundle): Dataset {
  const set = bundle.scoringSet!;
  const labels = new Int32Array(alignedBuffer(decodeBase64(set.labels)));
  const features = new Float32Array(alignedBuffer(decodeBase64(set.features)));
  return { features, labels, count: labels.length, exampleShape: set.exampleShape };
}

/** A round as the recomputation replays it: its record, the weights before it and its published updates. */
interface ReplayedRound {
  record: RoundRecord;
  global: Float32Array;
  previous: Float32Array | undefined;
  updates: ScoredUpdate[];
  groups: number[][];
  /** FLTrust's trust in each group, as recorded. */
  trust?: Trust;
}

/** The round's scores, and what it left out of its aggregate, computed again as the coordinator computed them. */
async function recomputeScores(
  bundle: AuditBundle,
  round: ReplayedRound,
  model: tf.LayersModel,
  problem: ReportProblem,
): Promise<void> {
  const { record, global, previous, updates, groups, trust } = round;
  const { task } = bundle;
  const { aggregation } = task.spec;
  const scored = await scoreRound({
    model,
    global,
    updates,
    chunkSize: task.zk.chunkSize,
    scoringSet: scoringSetOf(bundle),
    inputShape: task.spec.inputShape,
    classes: task.spec.classes,
    groups,
    options: {
      ...defaultScoringOptions,
      maxEvaluations: task.spec.rewards.scoringBudget,
      seed: roundSeed(task.spec.seed, record.round),
    },
    ...(aggregation.contributorsOnly
      ? {
          contributorsOnly: {
            previousStep: previous && global.map((w, i) => w - previous[i]!),
            replayDistance: replayDistanceOf(aggregation),
            ...(aggregation.leaveOutByScore === false ? { byScore: false } : {}),
            ...(aggregation.leaveOutNoise ? { noise: checkedNoise(bundle, round, model, problem) } : {}),
          },
        }
      : {}),
    ...(trust ? { trust } : {}),
  });
  const leftOut = scored.leftOut.map(({ index, why }) => ({ address: record.accepted[index]!.address, why }));
  if (JSON.stringify(leftOut) !== JSON.stringify(record.scoring.leftOut ?? [])) {
    const recorded = JSON.stringify(record.scoring.leftOut ?? []);
    problem(
      record.round,
      'left-out',
      `recorded left out of the aggregate ${recorded}, recomputed ${JSON.stringify(leftOut)}`,
    );
  }
  // Another machine's floating point may differ in the last bits: scores agree to a part in 10^4 of the round's gain.
  const tolerance = 1e-7 + 1e-4 * Math.abs(scored.roundGain);
  record.accepted.forEach((update, k) => {
    if (Math.abs(update.score - scored.scores[k]!) > tolerance) {
      problem(
        record.round,
        'score',
        `${update.address}: recorded score ${update.score}, recomputed ${scored.scores[k]}`,
      );
    }
  });
}

/**
 * The groups the record leaves out as noise, each verdict checked against the share computed again (ml/noise.ts):
 * another machine's gradients may differ in the last bits, so a share within `auditTolerance` of the floor
 * supports either verdict. The recorded groups are what the scores are then recomputed with, as FLTrust's trust is.
 */
function checkedNoise(
  bundle: AuditBundle,
  { record, global, updates, groups }: ReplayedRound,
  model: tf.LayersModel,
  problem: ReportProblem,
): number[] {
  const { spec, zk } = bundle.task;
  const scoring = { set: scoringSetOf(bundle), inputShape: spec.inputShape, classes: spec.classes };
  const signal = roundSignal(model, global, { updates, groups, chunkSize: zk.chunkSize }, scoring);
  const noiseAddresses = new Set(
    (record.scoring.leftOut ?? []).filter(({ why }) => why === 'noise').map(({ address }) => address),
  );
  const recorded = groups.flatMap((members, g) =>
    members.some((k) => noiseAddresses.has(record.accepted[k]!.address)) ? [g] : [],
  );
  const recordedNoise = new Set(recorded);
  groups.forEach((members, g) => {
    if (!supportsVerdict(signal, g, recordedNoise.has(g))) {
      const share = signal.shares[g]!;
      const who = members.map((k) => record.accepted[k]!.address).join(', ');
      const verdict = recordedNoise.has(g) ? 'left out as noise' : 'not left out as noise';
      problem(record.round, 'noise', `${who}: ${verdict}, but its share is ${share} against the floor ${signal.floor}`);
    }
  });
  return recorded;
}
