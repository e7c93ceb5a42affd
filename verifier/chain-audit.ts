/**
 * The audit's chain step: the on-chain task and its verifier key, every round's accepted set, every claim against
 * its leaf, every challenge and omission claim and its outcome, and that each contributor was paid what its leaf
 * says (verifier/audit.ts runs it when given a chain).
 */
import { type EventLog, getAddress, type Provider } from 'ethers';
import { taskKey } from '../circuits/statement.js';
import type { Deployment } from '../contracts/deployment.js';
import { RewardsContract } from '../contracts/rewards.js';
import type { AuditContext } from './audit.js';

/** The on-chain task, verifier, rounds, recorded contributions and payouts against the verified records. */
export async function checkChain(
  { bundle, rounds, problem }: AuditContext,
  chain: { provider: Provider; deployment: Deployment },
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
