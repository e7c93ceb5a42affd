/**
 * The audit of a whole run, trusting only math: every round record's signature and the hash chain H_r → H_{r+1};
 * every accepted update's proofs, statements and commitment; the accepted set's root; the terms and every
 * contributor's consent to them, and for a task for known holders that each contributor is one; each round's
 * amounts against the reward rule applied to its recorded scores. A bundle that is not one (a field missing, an amount
 * that is not a number: verifier/bundle-shape.ts) is reported malformed, and nothing else is checked.
 * Two more steps plug in where they can run (verifier/run.ts wires them in Node): for publicAudit tasks each
 * commitment, aggregate and score recomputed from the published updates and scoring set (verifier/recompute.ts,
 * TF.js); and with a chain, the on-chain task, rounds, claims and disputes (verifier/chain-audit.ts).
 *
 * This module is platform-neutral: `zkfl verify` runs it with a pool of verifier processes, the dashboard runs
 * the same code in a Web Worker with snarkjs (web/workers/verify-worker.ts).
 *
 * What scores rest on: without publicAudit the updates are private, so a score is the coordinator's signed word —
 * a verifier still checks that the scored updates are exactly the proven, accepted ones, that amounts follow the
 * rule from the scores, that nobody is paid more than its leaf or a round more than its pool; it cannot check the
 * scores themselves. With publicAudit it recomputes them.
 */
import { decodeBase64, getAddress } from 'ethers';
import type { Groth16Proof } from 'snarkjs';
import type { ProofVerifier } from '../circuits/verifier.js';
import { taskKey, taskStatement, type UpdateStatement } from '../circuits/statement.js';
import { statementProblem } from '../circuits/update-binding.js';
import { sha256Hex } from '../common/bytes.js';
import { committedRoot, updateCommitment } from '../contracts/accepted-set.js';
import { type AuditBundle, recordSigner, type RoundRecord, type SignedRoundRecord } from '../protocol/audit.js';
import { taskAmounts } from '../protocol/reward-rule.js';
import { canonicalJson } from '../protocol/canonical.js';
import { holdersHash, invited } from '../protocol/holders.js';
import { consentSigner, termsHash } from '../protocol/terms.js';
import { fromBytes, hashWeights } from '../protocol/weights.js';
import { bundleShapeProblem } from './bundle-shape.js';
import { checkPrivacy, type PrivacyAudit } from './privacy-audit.js';
import type { Problem, ReportProblem } from './problems.js';

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
   * private, so the scores are the coordinator's signed word (see the module comment for what is still checked);
   * 'not-recomputed': the updates are published but this verifier did not recompute them (no recompute step).
   */
  scores: 'recomputed' | 'signed' | 'not-recomputed';
  /** A private task's accounting, checked (verifier/privacy-audit.ts). */
  privacy?: PrivacyAudit;
}

/** What a plugged-in step works on: the bundle, the per-round rows it may fill in, where its problems go. */
export interface AuditContext {
  bundle: AuditBundle;
  rounds: Map<number, RoundAudit>;
  problem: ReportProblem;
}

/** How this platform checks proofs, and the steps it can run beyond the core's. */
export interface AuditSteps {
  proofVerifier: (verificationKey: object) => ProofVerifier;
  /** publicAudit tasks: commitments, aggregates and scores recomputed from the published updates. */
  recompute?: (context: AuditContext) => Promise<void>;
  /** The on-chain records against the verified ones. */
  chain?: (context: AuditContext) => Promise<void>;
  onProgress?: (done: number, total: number) => void;
}

export async function auditBundle(bundle: AuditBundle, steps: AuditSteps): Promise<AuditReport> {
  const malformed = bundleShapeProblem(bundle);
  if (malformed) return malformedReport(bundle, malformed);
  const { task } = bundle;
  const problems: Problem[] = [];
  const problem: ReportProblem = (round, kind, detail) => void problems.push({ round, kind, detail });
  const rounds = new Map<number, RoundAudit>();
  checkVerificationKey(bundle, problem);
  checkRecords(bundle, rounds, problem);
  const consented = checkConsents(bundle, problem);
  checkHolders(bundle, problem);
  const privacy = checkPrivacy(bundle, consented, problem);
  const proofs = task.spec.proofs ? await checkProofs(bundle, rounds, problem, steps) : emptyProofs();
  const recompute = task.spec.publicAudit ? steps.recompute : undefined;
  if (recompute) await recompute({ bundle, rounds, problem });
  if (steps.chain) await steps.chain({ bundle, rounds, problem });
  return {
    ok: problems.length === 0,
    taskId: task.id,
    problems,
    rounds: [...rounds.values()],
    proofs,
    chainChecked: steps.chain !== undefined,
    scores: !task.spec.publicAudit ? 'signed' : recompute ? 'recomputed' : 'not-recomputed',
    ...(privacy ? { privacy } : {}),
  };
}

/** The report on a bundle that is not one: its one problem, and nothing checked. */
function malformedReport(bundle: unknown, { round, detail }: { round: number | null; detail: string }): AuditReport {
  const taskId = (bundle as { task?: { id?: unknown } } | null)?.task?.id;
  return {
    ok: false,
    taskId: typeof taskId === 'string' ? taskId : '',
    problems: [{ round, kind: 'malformed', detail }],
    rounds: [],
    proofs: emptyProofs(),
    chainChecked: false,
    scores: 'not-recomputed',
  };
}

/** The key the proofs are checked with must be the task's. */
function checkVerificationKey(bundle: AuditBundle, problem: ReportProblem): void {
  if (!bundle.task.spec.proofs) return;
  if (!bundle.verificationKey) problem(null, 'verification-key', 'the bundle has no verification key');
  else if (sha256Hex(bundle.verificationKey) !== bundle.task.zk.verificationKeySha256)
    problem(null, 'verification-key', "the verification key is not the task's (sha256 differs)");
}

/** Records: signed by the coordinator, numbered 1..n, chained by model hash, ending at the task's model. */
function checkRecords(bundle: AuditBundle, rounds: Map<number, RoundAudit>, problem: ReportProblem): void {
  const { task } = bundle;
  let previousAfter: string | undefined = bundle.initialWeights
    ? hashWeights(fromBytes(decodeBase64(bundle.initialWeights)))
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
    checkRecord(bundle, signed, round, problem);
    if (previousAfter !== undefined && record.modelHashBefore !== previousAfter) {
      problem(round, 'hash-chain', `H_r is ${record.modelHashBefore}, the previous aggregate is ${previousAfter}`);
    }
    previousAfter = record.modelHashAfter;
  });
  checkAmounts(bundle, problem);
  const last = bundle.rounds.at(-1)?.record;
  if (task.status === 'completed' && last && last.modelHashAfter !== task.modelHash) {
    const message = `the final model hash is ${task.modelHash}, the last aggregate ${last.modelHashAfter}`;
    problem(last.round, 'hash-chain', message);
  }
  // A private task ends early, completed, rather than release a round past its budget.
  const atBudget = task.spec.privacy !== undefined && task.reason?.startsWith('privacy budget');
  if (task.status === 'completed' && bundle.rounds.length !== task.spec.rounds && !atBudget) {
    problem(null, 'rounds', `${bundle.rounds.length} round records for a task of ${task.spec.rounds} rounds`);
  }
}

/** One record on its own: its place, its task, its signer, its accepted set. */
function checkRecord(bundle: AuditBundle, signed: SignedRoundRecord, round: number, problem: ReportProblem): void {
  const { record } = signed;
  if (record.round !== round) problem(round, 'round-order', `record ${round - 1} is for round ${record.round}`);
  if (record.taskId !== bundle.task.id) problem(round, 'task', `the record is for task ${record.taskId}`);
  let signer = '';
  try {
    signer = recordSigner(signed);
  } catch {
    signer = 'an unreadable signature';
  }
  if (signer !== getAddress(bundle.coordinator) || record.coordinator !== bundle.coordinator) {
    problem(round, 'signature', `the record is not signed by the coordinator ${bundle.coordinator} (${signer})`);
  }
  const addresses = record.accepted.map((update) => update.address.toLowerCase());
  if (new Set(addresses).size !== addresses.length) problem(round, 'duplicate', 'an address is accepted twice');
  if (record.acceptedRoot !== committedRoot(record.accepted)) {
    problem(round, 'accepted-root', 'the accepted root is not the Merkle root of the accepted updates');
  }
}

/**
 * The terms hash to what every consent signs, and every accepted contributor consented to them; how many addresses
 * did.
 */
function checkConsents(bundle: AuditBundle, problem: ReportProblem): number {
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
  return consented.size;
}

/**
 * A task for known holders: its terms name the list its spec does (what every consent agreed to), and every accepted
 * update came from an address on it.
 */
function checkHolders({ task, terms, rounds }: AuditBundle, problem: ReportProblem): void {
  const { holders } = task.spec;
  const named = holders && { count: holders.length, hash: holdersHash(holders) };
  if (canonicalJson(terms.terms.holders ?? null) !== canonicalJson(named ?? null)) {
    problem(null, 'terms', "the terms do not name the task's holders as its spec does");
  }
  for (const { record } of rounds) {
    for (const { address } of record.accepted) {
      if (!invited(holders, address)) problem(record.round, 'uninvited', `${address} is not one of the task's holders`);
    }
  }
}

/**
 * Every round's amounts are the reward rule applied to the recorded scores (of that round, or of the rounds so far
 * under `valueOver: 'task'`) and the task's pool, and each round's pool is the task's. Records are in round order
 * (checkRecord holds them to it).
 */
function checkAmounts({ task, rounds }: AuditBundle, problem: ReportProblem): void {
  const { perRound } = task.spec.rewards;
  const scores = rounds.map(({ record }) => record.accepted.map(({ address, score }) => ({ address, score })));
  const expected = taskAmounts(scores, BigInt(perRound), task.spec.rewards);
  rounds.forEach(({ record }, i) => {
    if (record.scoring.pool !== perRound) {
      problem(i + 1, 'amounts', `the round's pool is ${record.scoring.pool}, the task's ${perRound}`);
    }
    record.accepted.forEach((update, k) => {
      if (BigInt(update.amount) !== expected[i]![k]) {
        problem(i + 1, 'amounts', `${update.address} is owed ${update.amount}; its score earns ${expected[i]![k]}`);
      }
    });
  });
}

/** What `address`'s proofs in this round must be bound to. */
export function statementOf(task: AuditBundle['task'], record: RoundRecord, address: string): UpdateStatement {
  return taskStatement(task, record.round, address, record.modelHashBefore);
}

const emptyProofs = (): AuditReport['proofs'] => ({ verified: 0, seconds: 0, perSecond: 0 });

/** Statements and commitments of every chunk proof, then every Groth16 proof with the platform's verifier. */
async function checkProofs(
  bundle: AuditBundle,
  rounds: Map<number, RoundAudit>,
  problem: ReportProblem,
  steps: AuditSteps,
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
  const verifier = steps.proofVerifier(JSON.parse(bundle.verificationKey) as object);
  const started = Date.now();
  let done = 0;
  try {
    await Promise.all(
      jobs.map(async (job) => {
        const valid = await verifier.verify(job.proof, job.signals).catch(() => false);
        steps.onProgress?.(++done, jobs.length);
        if (valid) rounds.get(job.round)!.proofsVerified += 1;
        else problem(job.round, 'proof', `${job.address} chunk ${job.chunk}: the proof does not verify`);
      }),
    );
  } finally {
    verifier.close();
  }
  const seconds = (Date.now() - started) / 1000;
  return { verified: jobs.length, seconds, perSecond: jobs.length / Math.max(seconds, 1e-3) };
}
