/**
 * The audit of a whole run, trusting only math and (optionally) the chain: every round record's signature and the
 * hash chain H_r → H_{r+1}; every accepted update's proofs (verified in parallel), statements and commitment; the
 * accepted set's root; the terms and every contributor's consent to them; each round's amounts against the reward
 * rule applied to its recorded scores; for publicAudit tasks each commitment, aggregate and score recomputed from
 * the published updates and scoring set; and, with a chain, the on-chain task, verifier key, rounds (root, count,
 * total), every claim against its leaf, every challenge and omission claim and its outcome, and that each
 * contributor was paid what its leaf says.
 *
 * What scores rest on: without publicAudit the updates are private, so a score is the coordinator's signed word —
 * a verifier still checks that the scored updates are exactly the proven, accepted ones, that amounts follow the
 * rule from the scores, that nobody is paid more than its leaf or a round more than its pool; it cannot check the
 * scores themselves. With publicAudit it recomputes them.
 */
import { type EventLog, getAddress, type Provider } from 'ethers';
import type { Groth16Proof } from 'snarkjs';
import { decodeValues } from '../circuits/codec.js';
import { type CircuitParams, circuitNamed } from '../circuits/params.js';
import { taskKey, type UpdateStatement } from '../circuits/statement.js';
import { commitmentProblem, statementProblem } from '../circuits/update-binding.js';
import { VerifierPool } from '../circuits/verifier.js';
import { alignedBuffer, sha256Hex } from '../common/bytes.js';
import { committedRoot, updateCommitment } from '../contracts/accepted-set.js';
import type { Deployment } from '../contracts/deployment.js';
import { RewardsContract } from '../contracts/rewards.js';
import { createStrategy, initialStrategyState, RunningSum } from '../ml/aggregation.js';
import type * as tf from '@tensorflow/tfjs';
import { initBackend } from '../ml/backend.js';
import { buildModel } from '../ml/models.js';
import { defaultScoringOptions, rewardAmounts, type ScoredUpdate, scoreRound } from '../ml/scoring.js';
import { fromBytes, hashWeights } from '../ml/weights.js';
import { consentSigner, termsHash } from '../protocol/terms.js';
import { type AuditBundle, recordSigner, type RoundRecord } from '../protocol/audit.js';

export interface Problem {
  /** null for the task as a whole. */
  round: number | null;
  kind: string;
  detail: string;
}

export interface RoundAudit {
  round: number;
  accepted: number;
  rejected: number;
  proofsVerified: number;
  modelHashAfter: string;
  /** Token base units the round's leaves pay, by the records. */
  owed: string;
  /** With a chain: leaves paid and what they were paid, challenges (answered, voided) and omission claims. */
  onchain?: { paid: number; paidAmount: string; challenges: number; voided: number; omissions: number };
}

export interface AuditReport {
  ok: boolean;
  taskId: string;
  problems: Problem[];
  rounds: RoundAudit[];
  proofs: { verified: number; seconds: number; perSecond: number };
  chainChecked: boolean;
  /**
   * 'recomputed': public audit, every score computed again from the published updates; 'signed': the updates are
   * private, so the scores are the coordinator's signed word (see the module comment for what is still checked).
   */
  scores: 'recomputed' | 'signed';
}

export interface AuditOptions {
  chain?: { provider: Provider; deployment: Deployment };
  verifierProcesses?: number;
  onProgress?: (done: number, total: number) => void;
}

export async function auditRun(bundle: AuditBundle, options: AuditOptions = {}): Promise<AuditReport> {
  const { task } = bundle;
  const problems: Problem[] = [];
  const problem = (round: number | null, kind: string, detail: string): void =>
    void problems.push({ round, kind, detail });
  const rounds = new Map<number, RoundAudit>();

  // The keys the proofs are checked with must be the task's.
  if (task.spec.proofs) {
    if (!bundle.verificationKey) problem(null, 'verification-key', 'the bundle has no verification key');
    else if (sha256Hex(bundle.verificationKey) !== task.zk.verificationKeySha256)
      problem(null, 'verification-key', "the verification key is not the task's (sha256 differs)");
  }

  // Records: signed by the coordinator, numbered 1..n, chained by model hash.
  let previousAfter: string | undefined = bundle.initialWeights
    ? hashWeights(fromBytes(Buffer.from(bundle.initialWeights, 'base64')))
    : undefined;
  bundle.rounds.forEach((signed, i) => {
    const { record } = signed;
    const round = i + 1;
    rounds.set(round, {
      round,
      accepted: record.accepted.length,
      rejected: record.rejected.length + record.rejectedUnlisted,
      proofsVerified: 0,
      modelHashAfter: record.modelHashAfter,
      owed: String(record.accepted.reduce((sum, update) => sum + BigInt(update.amount), 0n)),
    });
    checkAmounts(task, record, problem);
    if (record.round !== round) problem(round, 'round-order', `record ${i} is for round ${record.round}`);
    if (record.taskId !== task.id) problem(round, 'task', `the record is for task ${record.taskId}`);
    let signer = '';
    try {
      signer = recordSigner(signed);
    } catch {
      signer = 'an unreadable signature';
    }
    if (signer !== getAddress(bundle.coordinator) || record.coordinator !== bundle.coordinator) {
      problem(round, 'signature', `the record is not signed by the coordinator ${bundle.coordinator} (${signer})`);
    }
    if (previousAfter !== undefined && record.modelHashBefore !== previousAfter) {
      problem(round, 'hash-chain', `H_r is ${record.modelHashBefore}, the previous aggregate is ${previousAfter}`);
    }
    previousAfter = record.modelHashAfter;
    const addresses = record.accepted.map((update) => update.address.toLowerCase());
    if (new Set(addresses).size !== addresses.length) problem(round, 'duplicate', 'an address is accepted twice');
    if (record.acceptedRoot !== committedRoot(record.accepted)) {
      problem(round, 'accepted-root', 'the accepted root is not the Merkle root of the accepted updates');
    }
  });
  const last = bundle.rounds.at(-1)?.record;
  if (task.status === 'completed' && last && last.modelHashAfter !== task.modelHash) {
    problem(
      last.round,
      'hash-chain',
      `the final model hash is ${task.modelHash}, the last aggregate ${last.modelHashAfter}`,
    );
  }
  if (task.status === 'completed' && bundle.rounds.length !== task.spec.rounds) {
    problem(null, 'rounds', `${bundle.rounds.length} round records for a task of ${task.spec.rounds} rounds`);
  }

  checkConsents(bundle, problem);
  const proofs = task.spec.proofs ? await checkProofs(bundle, rounds, problem, options) : emptyProofs();
  if (task.spec.publicAudit) await recomputeAggregates(bundle, problem);
  if (options.chain) await checkChain(bundle, rounds, problem, options.chain);
  return {
    ok: problems.length === 0,
    taskId: task.id,
    problems,
    rounds: [...rounds.values()],
    proofs,
    chainChecked: options.chain !== undefined,
    scores: task.spec.publicAudit ? 'recomputed' : 'signed',
  };
}

/** The terms hash to what every consent signs, and every accepted contributor consented to them. */
function checkConsents(
  bundle: AuditBundle,
  problem: (round: number | null, kind: string, detail: string) => void,
): void {
  const { task, terms } = bundle;
  if (termsHash(terms.terms) !== terms.termsHash || terms.terms.taskKey !== taskKey(task.id)) {
    problem(null, 'terms', 'the terms do not hash to their hash, or are for another task');
  }
  const consented = new Set(
    bundle.consents
      .filter((consent) => consent.termsHash === terms.termsHash && consent.taskKey === terms.terms.taskKey)
      .filter((consent) => consentSigner(consent) === getAddress(consent.address))
      .map((consent) => getAddress(consent.address)),
  );
  for (const { record } of bundle.rounds) {
    for (const update of record.accepted) {
      if (!consented.has(getAddress(update.address))) {
        problem(record.round, 'consent', `${update.address} has no valid consent to the task's terms`);
      }
    }
  }
}

/** The round's amounts are the reward rule applied to its recorded scores and pool, and the pool is the task's. */
function checkAmounts(
  task: AuditBundle['task'],
  record: RoundRecord,
  problem: (round: number | null, kind: string, detail: string) => void,
): void {
  if (record.scoring.pool !== task.spec.rewards.perRound) {
    problem(
      record.round,
      'amounts',
      `the round's pool is ${record.scoring.pool}, the task's ${task.spec.rewards.perRound}`,
    );
  }
  const expected = rewardAmounts(
    record.accepted.map((update) => update.score),
    BigInt(task.spec.rewards.perRound),
    task.spec.rewards,
  );
  record.accepted.forEach((update, k) => {
    if (BigInt(update.amount) !== expected[k]) {
      problem(record.round, 'amounts', `${update.address} is owed ${update.amount}; its score earns ${expected[k]}`);
    }
  });
}

/** What `address`'s proofs in this round must be bound to. */
function statementOf(task: AuditBundle['task'], record: RoundRecord, address: string): UpdateStatement {
  return {
    taskId: task.id,
    round: record.round,
    address,
    modelHash: record.modelHashBefore,
    clipSquareX96: BigInt(task.zk.clipSquareX96),
  };
}

const emptyProofs = (): AuditReport['proofs'] => ({ verified: 0, seconds: 0, perSecond: 0 });

/** Statements and commitments of every chunk proof, then every Groth16 proof in a pool of verifier processes. */
async function checkProofs(
  bundle: AuditBundle,
  rounds: Map<number, RoundAudit>,
  problem: (round: number | null, kind: string, detail: string) => void,
  options: AuditOptions,
): Promise<AuditReport['proofs']> {
  const { task } = bundle;
  const jobs: Array<{ round: number; address: string; chunk: number; proof: Groth16Proof; signals: string[] }> = [];
  for (const { record } of bundle.rounds) {
    for (const update of record.accepted) {
      const binding = statementProblem(update, statementOf(task, record, update.address), task.zk.chunks);
      if (binding) {
        const kind = binding.code === 'PROOF_MISMATCH' ? 'statement' : 'proof-count';
        problem(record.round, kind, `${update.address}: ${binding.message}`);
      }
      update.proofs.forEach(({ proof, publicSignals }, chunk) =>
        jobs.push({ round: record.round, address: update.address, chunk, proof, signals: publicSignals }),
      );
      if (update.commitment !== updateCommitment(update.proofs.map((chunk) => chunk.publicSignals[0] ?? '0'))) {
        problem(record.round, 'commitment', `${update.address}: the commitment is not the one its proofs carry`);
      }
    }
  }
  if (jobs.length === 0 || !bundle.verificationKey) return emptyProofs();
  const pool = new VerifierPool(JSON.parse(bundle.verificationKey) as object, options.verifierProcesses, 60_000);
  const started = Date.now();
  let done = 0;
  try {
    await Promise.all(
      jobs.map(async (job) => {
        const valid = await pool.verify(job.proof, job.signals).catch(() => false);
        options.onProgress?.(++done, jobs.length);
        if (valid) rounds.get(job.round)!.proofsVerified += 1;
        else problem(job.round, 'proof', `${job.address} chunk ${job.chunk}: the proof does not verify`);
      }),
    );
  } finally {
    pool.close();
  }
  const seconds = (Date.now() - started) / 1000;
  return { verified: jobs.length, seconds, perSecond: jobs.length / Math.max(seconds, 1e-3) };
}

/** publicAudit: each chunk commitment from the published q and salt, and each aggregate from the updates. */
async function recomputeAggregates(
  bundle: AuditBundle,
  problem: (round: number | null, kind: string, detail: string) => void,
): Promise<void> {
  const { task } = bundle;
  if (!bundle.initialWeights) {
    problem(null, 'public-audit', 'the task publishes its updates but the bundle lacks the initial weights');
    return;
  }
  const params = circuitNamed(task.zk.circuit);
  const strategy = createStrategy(task.spec.aggregation);
  let global = fromBytes(Buffer.from(bundle.initialWeights, 'base64'));
  const state = initialStrategyState(strategy, global.length);
  if (!bundle.scoringSet) problem(null, 'public-audit', 'the bundle lacks the scoring set: scores are not recomputed');
  await initBackend();
  const model = await buildModel(task.spec.model, task.spec.inputShape, task.spec.classes, task.spec.seed);
  try {
    for (const { record } of bundle.rounds) {
      const updates = await recomputeRound(bundle, record, params, problem);
      if (!updates) return;
      if (bundle.scoringSet) await recomputeScores(bundle, record, model, global, updates, problem);
      if (updates.length === 0) continue;
      const sum = RunningSum.empty(global.length);
      for (const update of updates) sum.add(update.q, update.numSamples, update.fractionBits, params.chunkSize);
      global = strategy.apply(global, sum.mean(), state);
      if (hashWeights(global) !== record.modelHashAfter) {
        problem(record.round, 'aggregate', 'the published updates do not aggregate to the recorded model');
        return;
      }
    }
  } finally {
    model.dispose();
  }
}

/** The round's published updates, each checked against its commitment; undefined when one is missing. */
async function recomputeRound(
  bundle: AuditBundle,
  record: RoundRecord,
  params: CircuitParams,
  problem: (round: number | null, kind: string, detail: string) => void,
): Promise<ScoredUpdate[] | undefined> {
  const { task } = bundle;
  const updates: ScoredUpdate[] = [];
  {
    for (const update of record.accepted) {
      if (!update.update) {
        problem(record.round, 'public-audit', `${update.address}: the update is not published`);
        return;
      }
      const q = decodeValues(Buffer.from(update.update.q, 'base64'), task.numParams, task.zk.valueBits);
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
      updates.push({ q, numSamples: update.numSamples, fractionBits: update.fractionBits });
    }
  }
  return updates;
}

/** The round's scores computed again, as the coordinator computes them, on the bundle's scoring set. */
async function recomputeScores(
  bundle: AuditBundle,
  record: RoundRecord,
  model: tf.LayersModel,
  global: Float32Array,
  updates: ScoredUpdate[],
  problem: (round: number | null, kind: string, detail: string) => void,
): Promise<void> {
  const { task } = bundle;
  const set = bundle.scoringSet!;
  const features = new Float32Array(alignedBuffer(Buffer.from(set.features, 'base64')));
  const labels = new Int32Array(alignedBuffer(Buffer.from(set.labels, 'base64')));
  const scored = await scoreRound({
    model,
    global,
    updates,
    chunkSize: task.zk.chunkSize,
    scoringSet: { features, labels, count: labels.length, exampleShape: set.exampleShape },
    inputShape: task.spec.inputShape,
    classes: task.spec.classes,
    options: {
      ...defaultScoringOptions,
      maxEvaluations: task.spec.rewards.scoringBudget,
      seed: task.spec.seed * 1_000_003 + record.round,
    },
  });
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

/** The on-chain task, verifier, rounds, recorded contributions and payouts against the verified records. */
async function checkChain(
  bundle: AuditBundle,
  rounds: Map<number, RoundAudit>,
  problem: (round: number | null, kind: string, detail: string) => void,
  chain: NonNullable<AuditOptions['chain']>,
): Promise<void> {
  const { task } = bundle;
  const key = taskKey(task.id);
  const rewards = new RewardsContract(chain.deployment.rewards, chain.provider);
  const onchain = await rewards.task(key);
  if (!onchain) {
    problem(null, 'chain', `task ${task.id} has no on-chain record on ${chain.deployment.rewards}`);
    return;
  }
  if (getAddress(onchain.coordinator) !== getAddress(bundle.coordinator)) {
    problem(
      null,
      'chain-coordinator',
      `the on-chain coordinator is ${onchain.coordinator}, the records' ${bundle.coordinator}`,
    );
  }
  if (bundle.verificationKey && !(await verifierHoldsKey(chain.provider, onchain.verifier, bundle.verificationKey))) {
    problem(
      null,
      'verification-key',
      `the on-chain verifier ${onchain.verifier} does not hold the bundle's verification key`,
    );
  }
  const events = async (name: string): Promise<EventLog[]> => rewards.events(name, key);
  const [claimed, challenged, voided, omitted, compensated] = await Promise.all([
    events('RewardClaimed'),
    events('LeafChallenged'),
    events('LeafVoided'),
    events('OmissionClaimed'),
    events('OmissionCompensated'),
  ]);
  for (const { record } of bundle.rounds) {
    const r = record.round;
    const round = await rewards.round(key, r);
    if (round.modelHash !== '0x' + record.modelHashBefore)
      problem(r, 'chain-model-hash', `on-chain H_r is ${round.modelHash}`);
    if (!round.closed) {
      problem(r, 'chain-round', 'the round is not closed on-chain');
      continue;
    }
    const total = record.accepted.reduce((sum, update) => sum + BigInt(update.amount), 0n);
    if (
      round.acceptedRoot !== record.acceptedRoot ||
      round.acceptedCount !== record.accepted.length ||
      round.total !== total
    ) {
      problem(
        r,
        'chain-accepted-set',
        `on-chain ${round.acceptedCount} leaves paying ${round.total} under ${round.acceptedRoot}, the record has ${record.accepted.length} paying ${total} under ${record.acceptedRoot}`,
      );
    }
    const owed = new Map(record.accepted.map((update) => [getAddress(update.address), BigInt(update.amount)]));
    const inRound = (log: EventLog): boolean => Number(log.args[1]) === r;
    // Paid = owed: every payment is a leaf's amount, to its contributor, at most once.
    const paidHere = claimed.filter(inRound);
    const paidTo = new Set<string>();
    let paidAmount = 0n;
    for (const log of paidHere) {
      const [address, amount] = [getAddress(log.args[2] as string), log.args[3] as bigint];
      paidAmount += amount;
      if (owed.get(address) !== amount || paidTo.has(address)) {
        problem(r, 'chain-payout', `${address} was paid ${amount}; the record owes it ${owed.get(address) ?? 0n}`);
      }
      paidTo.add(address);
    }
    // Outcomes of disputes: a verified leaf voided (nobody answered its challenge), an omission compensated.
    const voidedHere = voided.filter(inRound);
    for (const log of voidedHere) {
      const index = Number(log.args[2]);
      problem(
        r,
        'chain-voided',
        `leaf ${index} was voided: its challenge went unanswered though its update was accepted`,
      );
    }
    for (const log of compensated.filter(inRound)) {
      problem(r, 'chain-omission', `${log.args[2] as string} was left out of the posted set and paid from the bond`);
    }
    rounds.get(r)!.onchain = {
      paid: paidHere.length,
      paidAmount: String(paidAmount),
      challenges: challenged.filter(inRound).length,
      voided: voidedHere.length,
      omissions: omitted.filter(inRound).length,
    };
  }
}

/** Whether the verifier contract's code embeds every constant of the verification key (snarkjs inlines them). */
async function verifierHoldsKey(provider: Provider, verifier: string, verificationKey: string): Promise<boolean> {
  const code = (await provider.getCode(verifier)).toLowerCase();
  const key = JSON.parse(verificationKey) as Record<string, unknown>;
  const numbers = ['vk_alpha_1', 'vk_beta_2', 'vk_gamma_2', 'vk_delta_2', 'IC']
    .flatMap((name) => [key[name]].flat(3))
    .filter((value): value is string => typeof value === 'string' && value !== '1' && value !== '0');
  // The optimizer drops leading zero bytes (PUSH31 and shorter), so look for the shortest even-length hex.
  const hex = (value: string): string => {
    const digits = BigInt(value).toString(16);
    return digits.length % 2 ? '0' + digits : digits;
  };
  return numbers.length > 0 && numbers.every((value) => code.includes(hex(value)));
}
