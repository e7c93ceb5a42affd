/**
 * Taking updates into a round: who may send what, when (consent, round, sampling, stake, one update per round, the
 * same update sent again), the UpdateChecker's verdict on what it holds, and then its place in the running sum and
 * storage, together — or a coded rejection, recorded. Nothing of a rejected update reaches the model.
 */
import { taskKey, taskStatement } from '../../circuits/statement.js';
import { createLogger } from '../../common/log.js';
import { ZkflError } from '../../common/errors.js';
import { type Receipt, signReceipt } from '../../protocol/receipt.js';
import { sameUpdate, type UpdatePayload } from '../../protocol/events.js';
import { updateWeight } from '../../protocol/weights-rule.js';
import { LeaseLost } from '../state/lease-table.js';
import type { ActiveRound, TaskRunnerContext } from './runner-context.js';
import { type CheckContext, type CheckedUpdate, RejectedUpdate } from './update-check.js';

const log = createLogger('coordinator');

/** What the intake needs of the task runner it works for. */
export interface IntakeHost {
  readonly ctx: TaskRunnerContext;
  /** The round open now, if any. */
  round(): ActiveRound | undefined;
  /** False once the task ended here, or this instance stopped running it. */
  running(): boolean;
  /** Queues a storage write behind the task's earlier ones. */
  persist(write: () => Promise<void>): Promise<void>;
  /** Sets what the round's record notes. */
  note(round: ActiveRound, note: string | null): void;
  /** Stops the task on a fault it cannot go on from. */
  fail(error: unknown): void;
  /** An update's verdict is in: the round may close now. */
  verdictIn(round: ActiveRound): void;
}

export class UpdateIntake {
  /** Addresses whose stake (rewards.stake) was found locked: it stays locked until the task ends. */
  private readonly staked = new Set<string>();

  constructor(private readonly host: IntakeHost) {}

  private get taskId(): string {
    return this.host.ctx.task.id;
  }

  /**
   * Checks an update against every rule — and its proofs, in the verifier pool — and either takes it into the
   * round or throws a coded error. Nothing of a rejected update reaches the model.
   */
  async submit(address: string, payload: UpdatePayload): Promise<Receipt | undefined> {
    const round = await this.admit(address, payload);
    if (round.answered.has(address)) return this.answerAgain(round, address, payload);
    // One update per client per round: another is refused even while the first is being verified (the same one sent
    // again gets the same answer, answerAgain). The round does not close before its verdict.
    round.answered.add(address);
    const verdict = this.verify(round, address, payload);
    round.verifying.set(address, { update: payload, verdict });
    try {
      return await verdict;
    } finally {
      round.verifying.delete(address);
      round.pending.delete(address);
      this.host.verdictIn(round);
    }
  }

  /** The update's proofs and values checked, then taken into the round: its receipt, or the coded refusal. */
  private async verify(round: ActiveRound, address: string, payload: UpdatePayload): Promise<Receipt | undefined> {
    const statement = taskStatement(this.host.ctx.task, round.number, address, round.modelHash);
    const checked = await this.host.ctx.checker
      .check(payload, this.host.ctx.task, statement, this.checkContext(round, address))
      .catch((error: unknown) => {
        // No verdict, for a fault of the coordinator's: the client may send its update again.
        if (error instanceof ZkflError && error.code === 'UNAVAILABLE') round.answered.delete(address);
        else if (error instanceof ZkflError) this.reject(round, address, error, { answered: 1 });
        throw error;
      });
    await this.accept(round, address, payload, checked);
    return await this.receipt(round, address, checked.commitment);
  }

  /** The rules an update must meet before its proofs are worth checking: the round it is for, and who sent it. */
  private async admit(address: string, payload: UpdatePayload): Promise<ActiveRound> {
    const round = this.host.round();
    const { task } = this.host.ctx;
    if (!this.host.running() || task.status !== 'running')
      this.reject(round, address, new ZkflError('TASK_NOT_RUNNING', `task ${task.id} is ${task.status}`));
    if (!(await this.host.ctx.storage.holders.consent(task.id, address))) {
      const message = `${address} has not agreed to the terms of task ${task.id}: join with a consent`;
      this.reject(round, address, new ZkflError('CONSENT_REQUIRED', message));
    }
    if (!round || payload.round !== round.number || round.phase !== 'training') {
      const state = `round ${round?.number ?? '-'} is ${round?.phase ?? 'not open'}`;
      this.reject(round, address, new ZkflError('WRONG_ROUND', `update is for round ${payload.round}; ${state}`));
    }
    if (!round.sampled.has(address)) {
      const message = `${address} was not sampled for round ${round.number}`;
      this.reject(round, address, new ZkflError('NOT_SELECTED', message));
    }
    await this.checkStake(round, address);
    return round;
  }

  /** A stake, once locked, stays until the task ends: asked again only of who has not shown it yet. */
  private async checkStake(round: ActiveRound, address: string): Promise<void> {
    if (this.staked.has(address)) return;
    try {
      await this.host.ctx.settlement?.checkStake(this.host.ctx.task, address);
    } catch (error) {
      // Only a missing stake is the client's: a chain out of reach is UNAVAILABLE, and the update may come again.
      if (error instanceof ZkflError && error.code === 'STAKE_REQUIRED') this.reject(round, address, error);
      throw error;
    }
    this.staked.add(address);
  }

  /**
   * A second update from an address that already answered this round. The very update it sent, sent again because
   * the answer was lost (a dropped connection, an instance that died, a verification slower than the client waits),
   * gets the same answer — the verdict still coming, or the receipt of the accepted update — and is not counted
   * twice; anything else is a DUPLICATE_UPDATE.
   */
  private async answerAgain(round: ActiveRound, address: string, payload: UpdatePayload): Promise<Receipt | undefined> {
    const inFlight = round.verifying.get(address);
    if (inFlight && sameUpdate(inFlight.update, payload)) return inFlight.verdict;
    const accepted = inFlight
      ? undefined
      : await this.host.ctx.storage.updates.sameAsAccepted(this.taskId, round.number, address, payload);
    if (accepted) {
      log.info(`round ${round.number}: ${address} sent its accepted update again; answered with its receipt`);
      return this.receipt(round, address, accepted.commitment);
    }
    const message = `${address} already sent an update in round ${round.number}`;
    this.reject(round, address, new ZkflError('DUPLICATE_UPDATE', message));
  }

  /** The coordinator's signed receipt for an accepted update (none for tasks without proofs, so no commitment). */
  private async receipt(round: ActiveRound, address: string, commitment: string | null): Promise<Receipt | undefined> {
    if (commitment === null) return undefined;
    const { task } = this.host.ctx;
    const deployment = task.spec.onchain ? this.host.ctx.settlement?.deployment : undefined;
    return signReceipt(
      this.host.ctx.identity,
      { taskKey: taskKey(task.id), round: round.number, contributor: address, updateCommitment: commitment },
      deployment && { chainId: deployment.chainId, verifyingContract: deployment.rewards },
    );
  }

  /**
   * How the checker learns whether `address`'s update is still wanted, and tells that the verifiers failed it for
   * now: the client hears its update is pending (not rejected), and the round notes why it waits.
   */
  private checkContext(round: ActiveRound, address: string): CheckContext {
    let told = false;
    return {
      wanted: () => !!this.host.running() && this.host.round() === round,
      delayed: (reason) => {
        if (told) return;
        told = true;
        this.host.ctx.directory.send(this.taskId, address, 'update:pending', {
          taskId: this.taskId,
          round: round.number,
          reason,
        });
        this.host.note(
          round,
          `an update's verification was delayed by a fault of the verifiers (${reason}); it was verified again`,
        );
      },
    };
  }

  /**
   * Records a rejection in the round (when there is one) and throws it. `answered`: the update counts as the
   * sampled client's answer (it passed the checks of who may send, and was refused for what it holds).
   */
  private reject(
    round: ActiveRound | undefined,
    address: string,
    error: ZkflError,
    { answered = 0 }: { answered?: number } = {},
  ): never {
    const proofsRejected = error instanceof RejectedUpdate ? error.proofs : 0;
    if (round) {
      const rejection = { address, code: error.code, reason: error.message };
      const counts = {
        answered,
        proofsRejected,
        verifySeconds: error instanceof RejectedUpdate ? error.verifySeconds : 0,
      };
      this.host
        .persist(() => this.host.ctx.storage.updates.recordRejected(this.taskId, round.number, rejection, counts))
        .catch((error: unknown) =>
          log.error('could not record a rejection', { task: this.taskId, error: String(error) }),
        );
      this.host.ctx.events.emit('update:rejected', {
        taskId: this.taskId,
        round: round.number,
        ...rejection,
        proofsRejected,
      });
    }
    log.warn(`rejected update: ${error.message}`, { task: this.taskId, address, code: error.code });
    throw new ZkflError(error.code, error.message, error.field);
  }

  /** Takes a checked update into the round's running sum and its storage, together, while the round trains. */
  private async accept(
    round: ActiveRound,
    address: string,
    payload: UpdatePayload,
    checked: CheckedUpdate,
  ): Promise<void> {
    const update = {
      address,
      numSamples: payload.numSamples,
      trainLoss: payload.trainLoss ?? null,
      commitment: checked.commitment,
      fractionBits: checked.fractionBits,
      proofs: payload.proofs ?? [],
      // Kept to score the round; published in the audit API only for tasks created with publicAudit.
      q: payload.q,
      ...(payload.salt !== undefined ? { salt: payload.salt } : {}),
      score: null,
      amount: null,
    };
    await this.host.persist(async () => {
      if (this.host.round() !== round || round.phase !== 'training') {
        this.reject(
          round,
          address,
          new ZkflError('WRONG_ROUND', `round ${round.number} closed while the update was verified`),
          { answered: 1 },
        );
      }
      const weight = updateWeight(this.host.ctx.task.spec.aggregation, payload.numSamples);
      round.sum.add(checked.q, weight, checked.fractionBits, this.host.ctx.task.zk.chunkSize);
      // Counted as accepted from now on, so no longer as pending: sampling must not count it twice meanwhile.
      round.pending.delete(address);
      try {
        const counts = { answered: 1, proofsVerified: checked.proofsVerified, verifySeconds: checked.verifySeconds };
        await this.host.ctx.storage.updates.recordAccepted(this.taskId, round.number, update, round.sum, counts);
      } catch (error) {
        // The in-memory sum now holds an update the database does not: stop rather than diverge.
        this.host.fail(error);
        if (!(error instanceof LeaseLost)) throw new ZkflError('INTERNAL', 'could not record the update');
        // Another instance took the task over: the update is not refused, and may be sent again, to it.
        round.answered.delete(address);
        throw new ZkflError('UNAVAILABLE', 'the task moved to another coordinator instance: send the update again');
      }
    });
    this.host.ctx.events.emit('update:accepted', {
      taskId: this.taskId,
      round: round.number,
      address,
      numSamples: payload.numSamples,
    });
  }
}
