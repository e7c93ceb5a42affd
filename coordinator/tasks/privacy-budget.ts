/**
 * A private task's budget (spec.privacy): what each round spends, from the rounds before it and whom it sampled, and
 * whether releasing it would pass `targetEpsilon`. Privacy is spent when a round's aggregate is released, not when
 * holders train: a round that would pass the budget is not aggregated, and the task ends with the model it has.
 */
import { plannedRate, type PrivacyStep, type RoundPrivacy, roundPrivacy } from '../../protocol/privacy.js';
import type { ActiveRound, TaskRunnerContext } from './runner-context.js';

export interface PrivacyVerdict {
  /** What the round spends (absent for a task without privacy). */
  privacy?: RoundPrivacy;
  /** Why the round may not run (or be released): it would pass the budget. */
  overBudget?: string;
}

/**
 * The round's privacy as released now — or, `planned`, at the planned sampling rate (before it samples anyone, so
 * that holders do not train for a round that could not be released).
 */
export async function checkPrivacy(
  { task, storage }: TaskRunnerContext,
  round: ActiveRound,
  planned: boolean,
): Promise<PrivacyVerdict> {
  const { spec } = task;
  if (!spec.privacy) return {};
  const records = await storage.rounds.records(task.id);
  const before: PrivacyStep[] = records.flatMap(({ record }) => (record.privacy ? [record.privacy] : []));
  const privacy = planned
    ? roundPrivacy(spec, before, plannedRate(spec) * spec.privacy.population, spec.privacy.population)
    : roundPrivacy(spec, before, round.asked.size, round.eligible.size);
  const budget = spec.privacy.targetEpsilon;
  if (budget === undefined || privacy.epsilon <= budget) return { privacy };
  const spent = records.at(-1)?.record.privacy?.epsilon ?? 0;
  const overBudget =
    `privacy budget: round ${round.number} would bring ε to ${privacy.epsilon.toFixed(3)}, past the task's ` +
    `${budget} (spent ${spent.toFixed(3)} at δ ${spec.privacy.delta})`;
  return { privacy, overBudget };
}
