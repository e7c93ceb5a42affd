/**
 * The audit's chain step: the on-chain task and its verifier key, every round's accepted set, every claim against
 * its leaf, every challenge and omission claim and its outcome, and that each contributor was paid what its leaf
 * says (verifier/audit.ts runs it when given a chain).
 */
import { type EventLog, getAddress, type Provider } from 'ethers';
import { taskKey } from '../circuits/statement.js';
import type { Deployment } from '../contracts/deployment.js';
import { RewardsContract } from '../contracts/rewards.js';
import type { RoundRecord } from '../protocol/audit.js';
import type { AuditContext } from './audit.js';
import type { ReportProblem } from './problems.js';

/** The chain's dispute and payment events of one task, every round's together. */
interface TaskEvents {
  claimed: EventLog[];
  challenged: EventLog[];
  voided: EventLog[];
  omitted: EventLog[];
  compensated: EventLog[];
}

/** The on-chain task, verifier, rounds, recorded contributions and payouts against the verified records. */
export async function checkChain(
  context: AuditContext,
  chain: { provider: Provider; deployment: Deployment },
): Promise<void> {
  const { bundle, problem } = context;
  const key = taskKey(bundle.task.id);
  const rewards = new RewardsContract(chain.deployment.rewards, chain.provider);
  const onchain = await rewards.task(key);
  if (!onchain) {
    problem(null, 'chain', `task ${bundle.task.id} has no on-chain record on ${chain.deployment.rewards}`);
    return;
  }
  if (getAddress(onchain.coordinator) !== getAddress(bundle.coordinator)) {
    const message = `the on-chain coordinator is ${onchain.coordinator}, the records' ${bundle.coordinator}`;
    problem(null, 'chain-coordinator', message);
  }
  if (bundle.verificationKey && !(await verifierHoldsKey(chain.provider, onchain.verifier, bundle.verificationKey))) {
    const message = `the on-chain verifier ${onchain.verifier} does not hold the bundle's verification key`;
    problem(null, 'verification-key', message);
  }
  const events = (name: string): Promise<EventLog[]> => rewards.events(name, key);
  const [claimed, challenged, voided, omitted, compensated] = await Promise.all(
    ['RewardClaimed', 'LeafChallenged', 'LeafVoided', 'OmissionClaimed', 'OmissionCompensated'].map(events),
  );
  const taskEvents = {
    claimed: claimed!,
    challenged: challenged!,
    voided: voided!,
    omitted: omitted!,
    compensated: compensated!,
  };
  for (const { record } of bundle.rounds)
    checkRound(context, record, await rewards.round(key, record.round), taskEvents);
}

/** One round: its on-chain H_r and accepted set against the record, its payouts and the outcomes of its disputes. */
function checkRound(
  { rounds, problem }: AuditContext,
  record: RoundRecord,
  round: Awaited<ReturnType<RewardsContract['round']>>,
  events: TaskEvents,
): void {
  const r = record.round;
  if (round.modelHash !== '0x' + record.modelHashBefore)
    problem(r, 'chain-model-hash', `on-chain H_r is ${round.modelHash}`);
  if (!round.closed) {
    problem(r, 'chain-round', 'the round is not closed on-chain');
    return;
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
  const inRound = (log: EventLog): boolean => Number(log.args[1]) === r;
  const paidHere = events.claimed.filter(inRound);
  const paidAmount = checkPayouts(record, paidHere, problem);
  // Outcomes of disputes: a verified leaf voided (nobody answered its challenge), an omission compensated.
  const voidedHere = events.voided.filter(inRound);
  for (const log of voidedHere) {
    const index = Number(log.args[2]);
    problem(
      r,
      'chain-voided',
      `leaf ${index} was voided: its challenge went unanswered though its update was accepted`,
    );
  }
  for (const log of events.compensated.filter(inRound)) {
    problem(r, 'chain-omission', `${log.args[2] as string} was left out of the posted set and paid from the bond`);
  }
  rounds.get(r)!.onchain = {
    paid: paidHere.length,
    paidAmount: String(paidAmount),
    challenges: events.challenged.filter(inRound).length,
    voided: voidedHere.length,
    omissions: events.omitted.filter(inRound).length,
  };
}

/** Paid = owed: every payment of the round is a leaf's amount, to its contributor, at most once. Answers the total. */
function checkPayouts(record: RoundRecord, paid: EventLog[], problem: ReportProblem): bigint {
  const owed = new Map(record.accepted.map((update) => [getAddress(update.address), BigInt(update.amount)]));
  const paidTo = new Set<string>();
  let paidAmount = 0n;
  for (const log of paid) {
    const [address, amount] = [getAddress(log.args[2] as string), log.args[3] as bigint];
    paidAmount += amount;
    if (owed.get(address) !== amount || paidTo.has(address)) {
      problem(
        record.round,
        'chain-payout',
        `${address} was paid ${amount}; the record owes it ${owed.get(address) ?? 0n}`,
      );
    }
    paidTo.add(address);
  }
  return paidAmount;
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
