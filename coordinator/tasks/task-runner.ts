/**
 * Runs the rounds of one task: samples clients, hands them the global model, takes their updates into the
 * running sum, closes the round at its deadline (or when nobody is left to wait for), aggregates, evaluates,
 * checkpoints and moves on. Which update counts is decided by the UpdateIntake (who may send what, when) and the
 * UpdateChecker (what the update and its proofs must show); closing a round is round-close.ts.
 */
import { createLogger } from '../../common/log.js';
import type { Receipt } from '../../protocol/receipt.js';
import type { UpdatePayload } from '../../protocol/events.js';
import type { TaskStatus } from '../../protocol/states.js';
import { lastOpening } from '../../protocol/task-spec.js';
import { Random } from '../../common/random.js';
import { hashWeights, toBytes } from '../../protocol/weights.js';
import {
  type AggregationStrategy,
  createStrategy,
  initialStrategyState,
  type StrategyState,
} from '../../ml/aggregation.js';
import { assertTransition, decideClose, samplesNeeded } from './round-machine.js';
import { LeaseLost } from '../state/lease-table.js';
import type { ActiveRound, TaskRunnerContext } from './runner-context.js';
import { announceRound, closeRound } from './round-close.js';
import { UpdateIntake } from './update-intake.js';
import { PrivacyBudget } from './privacy-budget.js';

const log = createLogger('coordinator');

/** How a short round's note ends while it waits (`clientsPerRound.whenShort: wait`). */
const waitingForClients = 'waiting for new clients';

export class TaskRunner {
  private round: ActiveRound | undefined;
  private readonly strategy: AggregationStrategy;
  private strategyState: StrategyState = [];
  private stopped = false;
  /** The owner cancelled while a round was being aggregated: the task ends once that round is recorded. */
  private cancelRequested = false;
  /**
   * This task's storage writes, one after another in the order the runner made them: an update's place in the
   * running sum and its row commit together, and aggregation reads the round only once every earlier write landed.
   */
  private writes: Promise<void> = Promise.resolve();
  /**
   * Resolves once the runner knows its round (or stops): an update that arrives while a restarted or taken-over
   * task is being resumed waits for it, rather than being refused for a round that is not loaded yet.
   */
  private readonly loaded: Promise<void>;
  private markLoaded: () => void = () => undefined;
  private readonly intake: UpdateIntake;
  private readonly budget: PrivacyBudget;

  constructor(private readonly ctx: TaskRunnerContext) {
    this.strategy = createStrategy(ctx.task.spec.aggregation);
    this.loaded = new Promise((resolve) => (this.markLoaded = resolve));
    this.budget = new PrivacyBudget(ctx);
    this.intake = new UpdateIntake({
      ctx,
      round: () => this.round,
      running: () => this.running,
      persist: (write) => this.persist(write),
      note: (round, note) => this.note(round, note),
      fail: (error) => this.fail(error),
      verdictIn: (round) => {
        if (this.round === round) this.maybeClose();
      },
    });
  }

  get taskId(): string {
    return this.ctx.task.id;
  }

  get currentRound(): number | undefined {
    return this.round?.number;
  }

  /** False once the task ended here, or this instance stopped running it. */
  get running(): boolean {
    return !this.stopped;
  }

  /** Starts a new task from its initial weights, or resumes one from its last checkpoint and running sum. */
  async start(initialWeights?: Float32Array): Promise<void> {
    const { task, storage, checkpoints } = this.ctx;
    const size = task.numParams;
    if (initialWeights) {
      this.strategyState = initialStrategyState(this.strategy, size);
      checkpoints.save(task.id, 1, initialWeights, this.strategyState);
    }
    const number = task.currentRound;
    const record = await storage.rounds.get(task.id, number);
    if (!record) throw new Error(`task ${task.id} has no record of its round ${number}`);
    const global = checkpoints.loadWeights(task.id, number);
    this.strategyState = checkpoints.loadState(task.id, number, this.strategy.stateSlots, size);
    const answered = new Set((await storage.updates.accepted(task.id, number)).map((update) => update.address));
    // A private round's sampling so far (empty for others): its q counts everyone it asked before a restart.
    const sampling = await storage.rounds.sampling(task.id, number);
    this.round = {
      number,
      // A round killed while aggregating picks up there: its accepted set is final.
      phase: record.phase === 'aggregating' ? 'aggregating' : 'open',
      attempts: record.attempts,
      global,
      globalBytes: toBytes(global),
      modelHash: hashWeights(global),
      deadline: 0,
      sampled: new Set(answered),
      asked: new Set([...answered, ...sampling.asked]),
      eligible: new Set([...answered, ...sampling.eligible]),
      pending: new Set(),
      answered,
      verifying: new Map(),
      deadlinePassed: false,
      note: record.note ?? null,
      sum: await storage.updates.runningSum(task.id, number, size),
      openedAt: Date.now(),
    };
    // Resolved now, acted on after what follows here (no await before the attempt starts).
    this.markLoaded();
    if (record.phase === 'aggregating') {
      log.info('resuming an interrupted aggregation', { task: task.id, round: number });
      await this.aggregate().catch((error: unknown) => this.fail(error));
    } else if (number === 1 && record.attempts === 0 && task.spec.onchain) {
      // Nobody trains before the reward pool is escrowed. Waiting must not hold up task creation.
      this.ctx
        .settlement!.whenEscrowed(task, () => this.stopped)
        .then(
          () => (this.stopped ? undefined : this.openRound()),
          (error: unknown) => this.fail(error),
        );
    } else if (record.attempts === 0) {
      await this.openRound();
    } else {
      log.info('resuming round', { task: task.id, round: number, accepted: answered.size });
      this.startAttempt();
    }
  }

  /**
   * Starts a round's first attempt; for an on-chain task, only while it can still be claimed before the escrow's
   * deadline (the contract would refuse to open it later): past that, the task ends, saying so.
   */
  private async openRound(): Promise<void> {
    const { spec } = this.ctx.task;
    if (spec.onchain && (await this.ctx.settlement!.chainTime()) > lastOpening(spec.rewards)) {
      const deadline = new Date(spec.rewards.deadline! * 1000).toISOString();
      const number = this.round!.number;
      await this.end(
        'failed',
        `round ${number} would open too late to be claimed before the escrow's deadline ${deadline}`,
      );
      return;
    }
    const { overBudget } = await this.budget.check(this.round!, true);
    if (overBudget) return this.end('completed', overBudget);
    this.startAttempt();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.round?.timer);
    this.markLoaded();
  }

  private startAttempt(): void {
    const round = this.round!;
    const { spec } = this.ctx.task;
    assertTransition(round.phase, 'training');
    round.phase = 'training';
    round.attempts += 1;
    round.pending.clear();
    round.deadlinePassed = false;
    round.deadline = Date.now() + spec.roundDeadlineSeconds * 1000;
    const { attempts } = round;
    this.persist(async () => {
      await this.ctx.storage.rounds.setPhase(this.taskId, round.number, 'training', attempts);
      // Once the attempt is stored: the settlement derives the round's opening from it.
      if (attempts === 1) await this.ctx.settlement?.sync(this.ctx.task);
    }).catch((error: unknown) => this.fail(error));
    clearTimeout(round.timer);
    round.timer = setTimeout(() => this.onDeadline(), spec.roundDeadlineSeconds * 1000);
    const sampled = this.fill();
    this.ctx.events.emit('round:open', { taskId: this.taskId, round: round.number, attempt: round.attempts, sampled });
    log.info(`round ${round.number} attempt ${round.attempts}: sampled ${sampled.length}`, { task: this.taskId });
  }

  /** When the training round's current attempt closes (ms since the epoch); undefined outside training. */
  trainingDeadline(): number | undefined {
    return this.round?.phase === 'training' ? this.round.deadline : undefined;
  }

  /** The round's start, as a sampled client receives it. */
  private sendStart(address: string): void {
    const round = this.round!;
    const { spec } = this.ctx.task;
    this.ctx.directory.send(this.taskId, address, 'round:start', {
      taskId: this.taskId,
      round: round.number,
      modelHash: round.modelHash,
      weights: round.globalBytes,
      deadline: round.deadline,
      training: spec.training,
    });
  }

  /**
   * A newer connection for `address` replaced its older one: if the round is still waiting for that address's
   * update, the newer connection gets the round (the older one, which had it, is gone).
   */
  connectionReplaced(address: string): void {
    const round = this.round;
    if (this.stopped || round?.phase !== 'training' || !round.pending.has(address)) return;
    log.info(`round ${round.number}: ${address} reconnected; sending it the round again`, { task: this.taskId });
    this.sendStart(address);
  }

  /** Samples connected clients that have not taken part in this round until accepted + pending reaches the target. */
  private fill(): string[] {
    const round = this.round!;
    const { spec } = this.ctx.task;
    const need = samplesNeeded({
      accepted: round.sum.count,
      pending: round.pending.size,
      target: spec.clientsPerRound.target,
    });
    if (need === 0) return [];
    const candidates = this.candidates();
    const random = new Random(spec.seed * 1_000_003 + round.number * 1009 + round.attempts * 31 + round.sampled.size);
    const chosen = random.sample(candidates.sort(), need);
    for (const address of candidates) round.eligible.add(address);
    for (const address of chosen) {
      round.asked.add(address);
      round.sampled.add(address);
      round.pending.add(address);
    }
    this.sendStarts(round, candidates, chosen);
    if (chosen.length) {
      const counts = { sampled: chosen.length };
      this.persist(() => this.ctx.storage.rounds.addCounts(this.taskId, round.number, counts)).catch((error: unknown) =>
        log.error('could not count the clients sampled', { task: this.taskId, error: String(error) }),
      );
    }
    return chosen;
  }

  /**
   * Sends the round to the holders it chose. A private round first stores whom it could sample and whom it asked,
   * so that a restart counts them in its sampling rate: a holder sent the model before that write could otherwise
   * be forgotten, understating q and so ε.
   */
  private sendStarts(round: ActiveRound, candidates: string[], chosen: string[]): void {
    if (!this.ctx.task.spec.privacy || chosen.length === 0) {
      for (const address of chosen) this.sendStart(address);
      return;
    }
    const sampling = { eligible: candidates, asked: chosen };
    this.persist(() => this.ctx.storage.rounds.addSampling(this.taskId, round.number, sampling)).then(
      () => {
        const current = this.round === round && round.phase === 'training';
        for (const address of chosen) if (current && round.pending.has(address)) this.sendStart(address);
      },
      // Nobody is sent the round: they time out with its attempt, which samples again.
      (error: unknown) => log.error('could not store the round sampling', { task: this.taskId, error: String(error) }),
    );
  }

  /**
   * A client joined (or re-joined) the task: if the round still needs clients, it may get the model now (in a new
   * attempt, when the round was short of clients past its deadline).
   */
  clientAvailable(): void {
    const round = this.round;
    if (this.stopped || round?.phase !== 'training') return;
    if (round.deadlinePassed) return this.maybeClose();
    const sampled = this.fill();
    if (sampled.length) log.info(`round ${round.number}: sampled ${sampled.length} more`, { task: this.taskId });
  }

  /** A client disconnected: it is dropped from this round and may rejoin later. */
  clientGone(address: string): void {
    const round = this.round;
    if (round?.phase !== 'training' || !round.pending.delete(address)) return;
    round.sampled.delete(address);
    log.info(`round ${round.number}: ${address} left before answering`, { task: this.taskId });
    this.fill();
    this.maybeClose();
  }

  /**
   * Checks an update against every rule — and its proofs, in the verifier pool — and either takes it into the
   * round or throws a coded error (update-intake.ts).
   */
  async submit(address: string, payload: UpdatePayload): Promise<Receipt | undefined> {
    await this.loaded;
    return this.intake.submit(address, payload);
  }

  /** Sets what the round's record notes (null: nothing out of its usual course). */
  private note(round: ActiveRound, note: string | null): void {
    if (round.note === note) return;
    round.note = note;
    this.persist(() => this.ctx.storage.rounds.note(this.taskId, round.number, note)).catch((error: unknown) =>
      log.error('could not note the round', { task: this.taskId, error: String(error) }),
    );
  }

  private onDeadline(): void {
    const round = this.round;
    if (!round || round.phase !== 'training' || this.stopped) return;
    round.deadlinePassed = true;
    this.maybeClose();
  }

  private maybeClose(): void {
    const round = this.round!;
    if (round.phase !== 'training' || this.stopped) return;
    const { clientsPerRound } = this.ctx.task.spec;
    const decision = decideClose({
      accepted: round.sum.count,
      pending: round.pending.size,
      verifying: round.verifying.size,
      min: clientsPerRound.min,
      target: clientsPerRound.target,
      deadlinePassed: round.deadlinePassed,
      candidates: this.candidates().length,
    });
    const tally = `${round.sum.count} of at least ${clientsPerRound.min} updates by the deadline`;
    if (decision === 'aggregate') {
      void this.aggregate().catch((error: unknown) => this.fail(error));
    } else if (decision === 'retry') {
      log.warn(`round ${round.number}: ${tally}, retrying with clients not asked yet`, { task: this.taskId });
      if (round.note?.endsWith(waitingForClients)) {
        this.note(round, round.note.replace(waitingForClients, 'it waited for new clients, and went on with them'));
      }
      this.startAttempt();
    } else if (decision === 'short') {
      this.short(round, tally);
    }
  }

  /**
   * Too few updates by the deadline and no client left to ask: the task ends, or the round waits for new clients
   * (and for late answers from those it asked), as the spec says.
   */
  private short(round: ActiveRound, tally: string): void {
    const why = `round ${round.number} had ${tally}, and no connected client left to ask`;
    if (this.ctx.task.spec.clientsPerRound.whenShort === 'end') {
      this.note(round, why);
      this.end('failed', `${why} (clientsPerRound.whenShort: end)`).catch((error: unknown) =>
        log.error('could not record the end of the task', { task: this.taskId, error: String(error) }),
      );
      return;
    }
    if (round.note?.startsWith(why)) return;
    log.warn(`${why}: ${waitingForClients}`, { task: this.taskId });
    this.note(round, `${why}: ${waitingForClients}`);
  }

  /** Connected clients the round has not asked yet. */
  private candidates(): string[] {
    const round = this.round!;
    return this.ctx.directory.connected(this.taskId).filter((address) => !round.sampled.has(address));
  }

  private async aggregate(): Promise<void> {
    const round = this.round!;
    const { task, storage, checkpoints } = this.ctx;
    clearTimeout(round.timer);
    if (round.phase !== 'aggregating') {
      assertTransition(round.phase, 'aggregating');
      round.phase = 'aggregating';
      await this.persist(() => storage.rounds.setPhase(task.id, round.number, 'aggregating'));
      log.info(`round ${round.number} aggregating`, { task: task.id, accepted: round.sum.count });
    }
    // Every update accepted before the phase changed is stored; any later one is refused (see accept).
    await this.writes;
    const { privacy, overBudget } = await this.budget.check(round, false);
    if (overBudget) {
      this.note(round, overBudget);
      return this.end('completed', overBudget);
    }
    const closed = await closeRound(this.ctx, round, this.strategy, this.strategyState, privacy);
    if (this.stopped) return;
    const { next, metrics, modelHashAfter, signed } = closed;
    const last = round.number >= task.spec.rounds;
    checkpoints.save(task.id, round.number + 1, next, this.strategyState);
    await storage.rounds.finish(task.id, round.number, { ...metrics, modelHashAfter, last, signed });
    if (privacy) this.budget.add(privacy);
    await this.ctx.settlement?.sync(task);
    assertTransition(round.phase, 'evaluated');
    round.phase = 'evaluated';
    await announceRound(this.ctx, round, metrics);
    this.ctx.task = (await storage.tasks.get(task.id))!;
    if (last) {
      this.finish('completed');
      return;
    }
    if (this.cancelRequested) {
      await this.end('cancelled', 'cancelled by its owner');
      return;
    }
    await this.start();
  }

  /**
   * The owner cancels the task. A round in training is abandoned (its updates are neither aggregated nor paid); a
   * round being aggregated is recorded first, so that what it took is settled.
   */
  async cancel(): Promise<void> {
    if (this.round?.phase === 'aggregating') {
      this.cancelRequested = true;
      log.info('task cancelled; ending once the round being aggregated is recorded', { task: this.taskId });
      return;
    }
    await this.end('cancelled', 'cancelled by its owner');
  }

  /** Ends the task now, saying why; resolves once its status is stored. */
  private async end(status: Exclude<TaskStatus, 'running'>, reason: string): Promise<void> {
    this.ctx.task = { ...this.ctx.task, status, reason };
    this.stop();
    // Stored before anyone is told: whoever reads the task on hearing it ended reads why.
    try {
      await this.persist(() => this.ctx.storage.tasks.end(this.taskId, status, reason));
    } catch (error) {
      // Another instance runs the task now: it is not this one's to end, nor to announce (the caller asks there).
      if (!(error instanceof LeaseLost)) this.finish(status);
      throw error;
    }
    this.finish(status);
  }

  /** Queues a storage write behind this task's earlier ones (see `writes`). */
  private persist(write: () => Promise<void>): Promise<void> {
    const done = this.writes.then(write);
    this.writes = done.catch(() => undefined);
    return done;
  }

  private finish(status: TaskStatus): void {
    this.stop();
    for (const address of this.ctx.directory.connected(this.taskId)) {
      this.ctx.directory.send(this.taskId, address, 'task:end', { taskId: this.taskId, status });
    }
    this.ctx.events.emit('task:end', { taskId: this.taskId, status });
    log.info(`task ${status}`, { task: this.taskId });
  }

  private fail(error: unknown): void {
    if (error instanceof LeaseLost) {
      // Another instance runs the task now, from what was stored: nothing here may write to it any more.
      log.warn('stopped: the task is run by another instance now', { task: this.taskId });
      this.stop();
      return;
    }
    log.error('task failed', { task: this.taskId, error: (error as Error).stack ?? String(error) });
    this.end('failed', `the coordinator failed: ${(error as Error).message ?? String(error)}`).catch(
      (failure: unknown) => log.error('could not record the failure', { task: this.taskId, error: String(failure) }),
    );
  }
}
