/**
 * The audit of a whole run, trusting only math and (optionally) the chain: every round record's signature and the
 * hash chain H_r → H_{r+1}; every accepted update's proofs (verified in parallel), statements and commitment; the
 * accepted set's root; for publicAudit tasks each commitment and aggregate recomputed from the published updates;
 * and, with a chain, the on-chain task, verifier key, rounds, recorded contributions and payouts.
 */
import { type EventLog, getAddress, type Provider } from 'ethers';
import type { Groth16Proof } from 'snarkjs';
import { decodeValues } from '../circuits/codec.js';
import { circuitNamed } from '../circuits/params.js';
import { taskKey, type UpdateStatement } from '../circuits/statement.js';
import { commitmentProblem, statementProblem } from '../circuits/update-binding.js';
import { VerifierPool } from '../circuits/verifier.js';
import { sha256Hex } from '../common/bytes.js';
import { committedRoot, updateCommitment } from '../contracts/accepted-set.js';
import type { Deployment } from '../contracts/deployment.js';
import { RewardsContract } from '../contracts/rewards.js';
import { createStrategy, initialStrategyState, RunningSum } from '../ml/aggregation.js';
import { fromBytes, hashWeights } from '../ml/weights.js';
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
  /** With a chain: contributions recorded and shares paid on-chain. */
  onchain?: { recorded: number; paid: number };
}

export interface AuditReport {
  ok: boolean;
  taskId: string;
  problems: Problem[];
  rounds: RoundAudit[];
  proofs: { verified: number; seconds: number; perSecond: number };
  chainChecked: boolean;
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
      rejected: record.rejected.length,
      proofsVerified: 0,
      modelHashAfter: record.modelHashAfter,
    });
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
  };
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
  for (const { record } of bundle.rounds) {
    const sum = RunningSum.empty(global.length);
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
      sum.add(q, update.numSamples, update.fractionBits, params.chunkSize);
    }
    if (sum.count === 0) continue;
    global = strategy.apply(global, sum.mean(), state);
    if (hashWeights(global) !== record.modelHashAfter) {
      problem(record.round, 'aggregate', 'the published updates do not aggregate to the recorded model');
      return;
    }
  }
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
  const [recorded, claimed] = await Promise.all([
    rewards.events('ContributionRecorded', key),
    rewards.events('RewardClaimed', key),
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
    if (round.acceptedRoot !== record.acceptedRoot || round.acceptedCount !== record.accepted.length) {
      problem(
        r,
        'chain-accepted-set',
        `on-chain ${round.acceptedCount} contributions under ${round.acceptedRoot}, the record has ${record.accepted.length} under ${record.acceptedRoot}`,
      );
    }
    const accepted = new Map(record.accepted.map((update) => [getAddress(update.address), update.commitment]));
    const inRound = (log: EventLog): boolean => Number(log.args[1]) === r;
    const recordedHere = recorded.filter(inRound);
    const recordedBy = new Set<string>();
    for (const log of recordedHere) {
      const [address, commitment] = [getAddress(log.args[2] as string), log.args[3] as string];
      recordedBy.add(address);
      if (accepted.get(address) !== commitment) {
        problem(r, 'chain-unverified', `${address} is recorded on-chain with a contribution the records do not verify`);
      }
    }
    const share =
      task.spec.onchain && record.accepted.length > 0 ? onchain.rewardPerRound / BigInt(record.accepted.length) : 0n;
    const paidHere = claimed.filter(inRound);
    for (const log of paidHere) {
      const [address, amount] = [getAddress(log.args[2] as string), log.args[3] as bigint];
      if (!accepted.has(address) || !recordedBy.has(address)) {
        problem(r, 'chain-payout', `${address} was paid ${amount} but did not contribute a verified update`);
      } else if (amount !== share) {
        problem(r, 'chain-payout', `${address} was paid ${amount}, the share is ${share}`);
      }
    }
    rounds.get(r)!.onchain = { recorded: recordedHere.length, paid: paidHere.length };
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
