/**
 * Contribution value: each accepted update's Shapley value in its round, on the model owner's evaluation data.
 *
 * The game: a coalition S of the round's updates is worth the utility of the model the round's own step would make
 * with only S's terms, w_r + Σ_{k∈S} n_k·Δ_k / Σ_{all k} n_k (the whole round's normalisation, n_k each update's
 * weight: protocol/weights-rule.ts), where utility is the mean cross-entropy loss on the scoring set, negated (loss
 * rather than accuracy: it moves with every update, where accuracy on a thousand examples moves in steps of 0.1 %);
 * the empty coalition is w_r itself, the whole round the real aggregate. Normalising by the whole round rather than
 * by S is what keeps a free rider from scoring: an update that does nothing (zero, or noise that helps no one) adds
 * nothing to any coalition, where averaging it into S's mean would shrink a harmful member's term and look like
 * help. A participant's Shapley value is its average marginal gain over the orders in which the coalition could
 * form. Values add up to v(all) − v(∅), the round's improvement.
 *
 * The players are the round's groups of replicas (ml/replicas.ts), not its keys: copies of an update sent under
 * several keys are one player, whose value its members split equally. Shapley alone splits a game's worth per
 * player, so a holder who copied its update under k keys would take about k shares (Han et al., "Replication
 * Robust Payoff Allocation in Submodular Cooperative Games", IEEE TAI 2022); as one player, the copies earn
 * together what one earns alone, and every other player's value is what it would be without them.
 *
 * Only contributors (`aggregation.contributorsOnly`, on by default): a player worth nothing — a score ≤ 0: a zero
 * update, noise that helps no one, a harmful update — still weighs in every coalition's normalisation, so it would
 * shrink everyone's step and move their values. Such players are left out and the game is played again without
 * them, until every player left adds value (at most `maxGames` games; whoever the last game still finds worth
 * nothing is left out without another, unless the round changed the loss by less than `truncation`); their
 * updates are left out of the round's aggregate too, and score 0. A round whose players are all left out takes no
 * step.
 * Updates of zeros, updates that replay the last round's step (within `replayDistance` of w_r − w_{r−1}: a step
 * the model already took), and with `aggregation.leaveOutNoise` updates that point nowhere the owner's data asks
 * for (ml/noise.ts), are left out before the game. The others then play, and the model moves, as if the
 * non-contributors had not come. With `aggregation.leaveOutByScore` false (every private task) only these tests,
 * each of one update alone, leave updates out (`byScore`). Otherwise this is also a validation-based robust
 * aggregation (an update that raises the owner's scoring loss does not enter the model), and it shares that family's
 * limit: an honest holder whose data differs from the owner's scoring set may be left out of a round. Under FLTrust (`trust`) the game is FLTrust's own
 * step, and only zeros, replays and noise are left out: its trust already weighs a harmful direction 0.
 *
 * Small rounds (n ≤ `exactUpTo`, 2^n coalitions) are scored exactly. Larger ones follow GTG-Shapley (Liu et al.,
 * "GTG-Shapley: Efficient and Accurate Participant Contribution Evaluation in Federated Learning", ACM TIST 2022):
 * permutations sampled with a seeded PRNG, guided so that every participant leads equally often; a permutation is
 * truncated once the coalition's worth is within `truncation` of the whole round's (the rest add nothing more);
 * sampling stops when the estimates move less than `tolerance` (relative) over a cycle of n permutations, at
 * `maxPermutations`, or before a permutation could exceed `maxEvaluations` model evaluations in all: the budget
 * that bounds a round's scoring time however many updates it has (past it, estimates are noisier). A round that
 * improves the model by less than `truncation` scores everyone 0 (between-round
 * truncation). Every coalition's worth is cached, so no model is evaluated twice.
 */
import type * as tf from '@tensorflow/tfjs';
import { Random } from '../common/random.js';
import { sumOfTrusted, type Trust, trustedTerms } from './fltrust.js';
import { groupedSum, groupTerms, replays, type WeightedUpdate } from './replicas.js';
import type { Dataset } from './dataset.js';
import { evaluate } from './train.js';
import { setFlatWeights } from './weights.js';

export interface ScoringOptions {
  /** Rounds of at most this many updates are scored exactly. @default 6 */
  exactUpTo: number;
  /** Stop a permutation (and skip a round) within this much utility of the whole round's. @default 1e-4 */
  truncation: number;
  /** Stop sampling when no estimate moved by more than this fraction of the round's gain over n permutations. @default 0.01 */
  tolerance: number;
  /** @default 50 · n */
  maxPermutations?: number;
  /** Coalitions evaluated per round at most (GTG-Shapley). @default 2000 */
  maxEvaluations: number;
  seed: number;
}

/** The seed of a round's scoring, and of anything else the coordinator draws for it that the audit must replay. */
export function roundSeed(taskSeed: number, round: number): number {
  return taskSeed * 1_000_003 + round;
}

export const defaultScoringOptions: Omit<ScoringOptions, 'seed'> = {
  exactUpTo: 6,
  truncation: 1e-4,
  tolerance: 0.01,
  maxEvaluations: 2000,
};

export interface ScoredRound {
  /** One Shapley value per update, in input order (utility units: loss reduction). */
  scores: number[];
  method: 'exact' | 'gtg-shapley';
  /** Coalitions evaluated (each one a model evaluation on the scoring set). */
  evaluations: number;
  /** v(all) − v(∅): what the round's aggregate gained. */
  roundGain: number;
}

/** The utility of a coalition, given by the indices of its members (ascending). */
export type CoalitionWorth = (members: number[]) => Promise<number>;

export async function shapleyScores(
  count: number,
  worth: CoalitionWorth,
  options: ScoringOptions,
): Promise<ScoredRound> {
  if (count === 0) return { scores: [], method: 'exact', evaluations: 0, roundGain: 0 };
  const cache = new Map<string, number>();
  const value: CoalitionWorth = async (members) => {
    const sorted = [...members].sort((a, b) => a - b);
    const key = sorted.join(',');
    let cached = cache.get(key);
    if (cached === undefined) {
      cached = await worth(sorted);
      cache.set(key, cached);
    }
    return cached;
  };
  const all = Array.from({ length: count }, (_, k) => k);
  const game: Game = {
    count,
    all,
    value,
    empty: await value([]),
    full: await value(all),
    evaluations: () => cache.size,
  };
  const exact = count <= options.exactUpTo;
  const scores = exact ? await exactShapley(game) : await sampledShapley(game, options);
  return {
    scores,
    method: exact ? 'exact' : 'gtg-shapley',
    evaluations: cache.size,
    roundGain: game.full - game.empty,
  };
}

/** A round's game as the Shapley computations see it: its players, their (cached) worth, and its two ends. */
interface Game {
  count: number;
  all: number[];
  value: CoalitionWorth;
  /** v(∅) and v(all). */
  empty: number;
  full: number;
  /** Coalitions evaluated so far. */
  evaluations: () => number;
}

/** φ_k = Σ_{S ⊆ N∖{k}} |S|!(n−|S|−1)!/n! · (v(S ∪ {k}) − v(S)), over all 2^n coalitions. */
async function exactShapley({ count, all, value }: Game): Promise<number[]> {
  const factorial = (m: number): number => (m <= 1 ? 1 : m * factorial(m - 1));
  const scores = new Array<number>(count).fill(0);
  for (let mask = 0; mask < 1 << count; mask++) {
    const members = all.filter((k) => mask & (1 << k));
    const worthS = await value(members);
    for (const k of all) {
      if (mask & (1 << k)) continue;
      const weight = (factorial(members.length) * factorial(count - members.length - 1)) / factorial(count);
      scores[k]! += weight * ((await value([...members, k])) - worthS);
    }
  }
  return scores;
}

/** GTG-Shapley (module comment): guided, truncated permutations until the estimates settle or the budget is spent. */
async function sampledShapley(game: Game, options: ScoringOptions): Promise<number[]> {
  const { count, all } = game;
  const scores = new Array<number>(count).fill(0);
  const roundGain = game.full - game.empty;
  if (Math.abs(roundGain) <= options.truncation) return scores;
  const random = new Random(options.seed);
  const maxPermutations = options.maxPermutations ?? 50 * count;
  let cycleStart = scores.slice();
  for (let t = 1; t <= maxPermutations && game.evaluations() + count <= options.maxEvaluations; t++) {
    const marginals = await permutationMarginals(game, (t - 1) % count, random, options.truncation);
    for (const k of all) scores[k] = scores[k]! + (marginals[k]! - scores[k]!) / t;
    if (t % count === 0) {
      const moved = Math.max(...all.map((k) => Math.abs(scores[k]! - cycleStart[k]!)));
      if (t >= 2 * count && moved <= options.tolerance * Math.abs(roundGain)) break;
      cycleStart = scores.slice();
    }
  }
  return scores;
}

/** Each player's marginal gain along one permutation led by `lead`, the others in a random order, truncated. */
async function permutationMarginals(game: Game, lead: number, random: Random, truncation: number): Promise<number[]> {
  const rest = game.all.filter((k) => k !== lead);
  for (let i = rest.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
  }
  const coalition: number[] = [];
  let previous = game.empty;
  const marginals = new Array<number>(game.count).fill(0);
  for (const k of [lead, ...rest]) {
    // Within-round truncation: once the coalition is worth the whole round, later members add nothing.
    if (Math.abs(game.full - previous) < truncation) break;
    coalition.push(k);
    const current = await game.value(coalition);
    marginals[k] = current - previous;
    previous = current;
  }
  return marginals;
}

/** One accepted update as the round's scoring takes it. */
export type ScoredUpdate = WeightedUpdate;

export interface RoundScoringInput {
  /** The task's model; its weights are overwritten. */
  model: tf.LayersModel;
  /** w_r, the weights the round trained from. */
  global: Float32Array;
  /** The round's accepted updates, in the order they were accepted. */
  updates: readonly ScoredUpdate[];
  /** The round's players: groups of replicas (ml/replicas.ts); each update alone when absent. */
  groups?: readonly number[][];
  chunkSize: number;
  /** The first `rewards.scoringExamples` of the owner's evaluation set. */
  scoringSet: Dataset;
  inputShape: number[];
  classes: number;
  options: ScoringOptions;
  /**
   * `aggregation.contributorsOnly`: only groups that add value enter the round's game and aggregate (module
   * comment). Absent: every group does, as tasks created before the rule did.
   */
  contributorsOnly?: {
    /** w_r − w_{r−1}, the step the model took last round (none in round 1): groups that replay it are left out. */
    previousStep?: Float32Array;
    /** How close to that step a replay is (ml/replicas.ts `replays`). */
    replayDistance: number;
    /**
     * `aggregation.leaveOutByScore`: groups the game finds worth nothing are left out too. false: only the tests of
     * one update alone (zeros, replays, noise) leave groups out, as a private task needs. @default true
     */
    byScore?: boolean;
    /** `aggregation.leaveOutNoise`: the groups (indices in `groups`) ml/noise.ts judged noise this round. */
    noise?: readonly number[];
  };
  /**
   * `aggregation.rule: fltrust`: the round's trust in each group (ml/fltrust.ts). The game is then FLTrust's step:
   * a coalition is worth w_r + Σ_S t_g·Δ̂_g / Σ_{all g} t_g, so that a group is paid for what it moves the model by
   * as FLTrust aggregates it (an untrusted group by nothing).
   */
  trust?: Trust;
}

/** Games a round's contributors-only scoring plays at most (the first, and again without who is worth nothing). */
export const maxGames = 4;

/** Why a group of updates was left out of the round's game and aggregate. */
export type LeftOutReason = 'replay' | 'noise' | 'no value';

export interface ScoredRoundUpdates extends ScoredRound {
  seconds: number;
  /** Indices of the updates left out of the round's aggregate, each with its reason; they score 0. */
  leftOut: Array<{ index: number; why: LeftOutReason }>;
}

/**
 * Scores a round's updates (the module comment's game), each group of replicas one player whose value its members
 * split equally: the worth of a coalition is minus the scoring-set loss of w_r + (Σ n_g·Δ_g / Σ_{all g} n_g) over
 * its groups — one FedAvg step of theirs alone, the round's real aggregate for them all. With `contributorsOnly`,
 * the game is played again without the groups it found worth nothing, so that they change no one's value. The
 * coordinator runs this when a round closes; `zkfl verify` runs it again on a public-audit bundle.
 */
export async function scoreRound(input: RoundScoringInput): Promise<ScoredRoundUpdates> {
  const started = performance.now();
  const groups = input.groups ?? input.updates.map((_, k) => [k]);
  const rule = input.contributorsOnly;
  const leftBeforeGame = verdictsBeforeGame(input, groups);
  let players = groups.map((_, g) => g).filter((g) => leftBeforeGame[g] === undefined);
  const game = roundGame(input, groups);
  let scored = await game(players);
  let evaluations = scored.evaluations;
  // A group worth nothing still weighs in every coalition's normalisation: the game is played again without it,
  // until every player left adds value, so that the others' game is the one they would have played had it not come
  // (and the aggregate is theirs alone). Each pass has fewer players, and there are at most `maxGames`, which bounds
  // a round's scoring time whatever its senders do. A round that gained nothing is not played again.
  // FLTrust's trust is its own value filter: a term pointing away from the root weighs nothing and earns nothing in
  // its game. Leaving out small trusted values as well cost bench:poison 8–15 points of clean accuracy (sampled
  // values near 0 fall either side of it), so under FLTrust only zeros, replays and noise are left out.
  const byScore = rule !== undefined && rule.byScore !== false && input.trust === undefined;
  for (
    let games = 1;
    byScore &&
    games < maxGames &&
    scored.roundGain > input.options.truncation &&
    scored.scores.some((score) => score <= 0);
    games++
  ) {
    players = players.filter((_, p) => scored.scores[p]! > 0);
    scored = await game(players);
    evaluations += scored.evaluations;
  }
  // Whoever the last game still found worth nothing (the cap, or a round that did harm, ended the games) is left
  // out too, without another game: the round never aggregates an update its own scoring found harmful — left in, a
  // lone harmful update would be the whole step. A round within `truncation` of no change is not judged: its scores
  // are noise (zero, sampled), and leaving everyone out would stop a model that has nearly converged.
  const judged = Math.abs(scored.roundGain) > input.options.truncation;
  const kept = new Set(byScore && judged ? players.filter((_, p) => scored.scores[p]! > 0) : players);
  const scores = new Array<number>(input.updates.length).fill(0);
  const leftOut: ScoredRoundUpdates['leftOut'] = [];
  groups.forEach((members, g) => {
    const p = players.indexOf(g);
    for (const k of members) {
      if (kept.has(g)) scores[k] = scored.scores[p]! / members.length;
      else leftOut.push({ index: k, why: leftBeforeGame[g] ?? 'no value' });
    }
  });
  const seconds = (performance.now() - started) / 1000;
  return { ...scored, evaluations, scores, leftOut, seconds };
}

/**
 * Why each group is left out before the round's game, if it is (`contributorsOnly`): noise (ml/noise.ts), a replay of
 * the last round's step, or an update of zeros ('no value') — each a test of the group alone, made once per group
 * (a group may hold as many copies as keys are free).
 */
function verdictsBeforeGame(
  { contributorsOnly: rule, updates, chunkSize }: RoundScoringInput,
  groups: readonly number[][],
): Array<LeftOutReason | undefined> {
  if (rule === undefined) return groups.map(() => undefined);
  const { previousStep, replayDistance } = rule;
  const noise = new Set(rule.noise);
  return groups.map((members, g) => {
    if (noise.has(g)) return 'noise';
    if (previousStep !== undefined && replays(updates[members[0]!]!, previousStep, chunkSize, replayDistance)) {
      return 'replay';
    }
    // An update of zeros is nothing, whatever a game would say: weighing in the first game's normalisation, it could
    // still change the verdict on another player.
    return members.every((k) => isZero(updates[k]!.q)) ? 'no value' : undefined;
  });
}

/** The round's Shapley game among some of its groups of replicas (`players`, indices in `groups`): one player each. */
function roundGame(
  input: RoundScoringInput,
  groups: readonly number[][],
): (players: readonly number[]) => Promise<ScoredRound> {
  const { model, global, scoringSet, inputShape, classes } = input;
  // FLTrust's terms are scaled by their trust once, not at every coalition's evaluation.
  const trusted =
    input.trust && trustedTerms(groupTerms(input.updates, groups, input.chunkSize, global.length), input.trust);
  return (players) => {
    const step = trusted
      ? trustedSteps(input.trust!, trusted, players, global.length)
      : meanSteps(input, groups, players);
    const worth = async (coalition: number[]): Promise<number> => {
      const delta = step(coalition);
      setFlatWeights(
        model,
        global.map((w, i) => w + delta[i]!),
      );
      return -(await evaluate(model, scoringSet, inputShape, classes)).loss;
    };
    return shapleyScores(players.length, worth, input.options);
  };
}

/** A coalition's step in the mean's game: its groups' weighted sum over the weight of every player's group. */
function meanSteps(
  { updates, chunkSize, global }: RoundScoringInput,
  groups: readonly number[][],
  players: readonly number[],
): (coalition: number[]) => Float64Array {
  const groupsOf = (positions: readonly number[]): number[][] => positions.map((p) => groups[players[p]!]!);
  const roundWeight = groupedSum(updates, groupsOf(players.map((_, p) => p)), chunkSize, global.length).totalWeight;
  return (coalition) =>
    groupedSum(updates, groupsOf(coalition), chunkSize, global.length).sum.map((value) => value / roundWeight);
}

/** A coalition's step in FLTrust's game: its trusted terms' sum over every player's trust (zero if none is trusted). */
function trustedSteps(
  trust: Trust,
  trusted: ReadonlyArray<Float64Array | undefined>,
  players: readonly number[],
  size: number,
): (coalition: number[]) => Float64Array {
  const total = players.reduce((sum, g) => sum + trust.weights[g]!, 0);
  return (coalition) => {
    const sum = sumOfTrusted(
      coalition.map((p) => trusted[players[p]!]),
      size,
    );
    return total > 0 ? sum.map((value) => value / total) : sum;
  };
}

function isZero(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) return false;
  return true;
}
