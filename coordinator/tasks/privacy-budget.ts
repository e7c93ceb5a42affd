/**
 * A private task's budget (spec.privacy): what each round spends, from the rounds before it and whom it sampled, and
 * whether releasing it would pass `targetEpsilon`. Privacy is spent when a round's aggregate is released, not when
 * holders train: a round that would pass the budget is not aggregated, and the task ends with the model it has.
 */
import { plannedRate, type RoundPrivacy, roundPrivacy } from '../../protocol/privacy.js';
import type { ActiveRound, TaskRunnerContext } from './runner-context.js';

export interface PrivacyVerdict {
  /** What the round spends (absent for a task without privacy). */
  privacy?: RoundPrivacy;
  /** Why the round may not run (or be released): it would pass the budget. */
  overBudget?: string;
}

/**
 * A private task's spending: the privacy of every round it released, read from their records once (a runner that
 * starts or takes the task over) and added to as it releases more.
 */
export class PrivacyBudget {
  private spent: Promise<RoundPrivacy[]> | undefined;

  constructor(private readonly ctx: TaskRunnerContext) {}

  /**
   * The round's privacy as released now — or, `planned`, at the planned sampling rate (before it samples anyone, so
   * that holders do not train for a round that could not be released).
   */
  async check(round: ActiveRound, planned: boolean): Promise<PrivacyVerdict> {
    const { spec } = this.ctx.task;
    if (!spec.privacy) return {};
    const before = await this.released();
    const privacy = planned
      ? roundPrivacy(spec, before, plannedRate(spec) * spec.privacy.population, spec.privacy.population)
      : roundPrivacy(spec, before, round.asked.size, round.eligible.size);
    const budget = spec.privacy.targetEpsilon;
    if (budget === undefined || privacy.epsilon <= budget) return { privacy };
    const spent = before.at(-1)?.epsilon ?? 0;
    const overBudget =
      `privacy budget: round ${round.number} would bring ε to ${privacy.epsilon.toFixed(3)}, past the task's ` +
      `${budget} (spent ${spent.toFixed(3)} at δ ${spec.privacy.delta})`;
    return { privacy, overBudget };
  }

  /** A round was released (its record stored) with `privacy`. */
  add(privacy: RoundPrivacy): void {
    if (this.spent) this.spent = this.spent.then((spent) => [...spent, privacy]);
  }

  private released(): Promise<RoundPrivacy[]> {
    const { task, storage } = this.ctx;
    this.spent ??= storage.rounds
      .records(task.id)
      .then((records) => records.flatMap(({ record }) => (record.privacy ? [record.privacy] : [])))
      .catch((error: unknown) => {
        // Read again next time: a database that was away must not leave the budget unreadable.
        this.spent = undefined;
        throw error;
      });
    return this.spent;
  }
}
