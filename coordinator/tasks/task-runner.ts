/**
 * Runs the rounds of one task: samples clients, hands them the global model, takes their updates into the
 * running sum, closes the round at its deadline (or when nobody is left to wait for), aggregates, evaluates,
 * checkpoints and moves on. Which update counts is decided in `submit` (who may send what, when) and by the
 * UpdateChecker (what the update and its proofs must show).
 */
import type { EventEmitter } from 'node:events';
import type * as tf from '@tensorflow/tfjs';
import type { Signer } from 'ethers';
import { taskKey, taskStatement } from '../../circuits/statement.js';
import { createLogger } from '../../common/log.js';
import { type Receipt, signReceipt } from '../../protocol/receipt.js';
import { type RoundRecord, type SignedRoundRecord, signRecord } from '../../protocol/audit.js';
import { committedRoot } from '../../contracts/accepted-set.js';
import { Random } from '../../common/random.js';
import { sameUpdate, type ServerToClientEvents, type UpdatePayload } from '../../protocol/events.js';
import type { RoundPhase, TaskStatus } from '../../protocol/states.js';
import { ZkflError } from '../../common/errors.js';
import type { TaskView } from '../../protocol/rest.js';
import { lastOpening } from '../../protocol/task-spec.js';
import { decodeValues } from '../../circuits/codec.js';
import { type Dataset, head } from '../../ml/dataset.js';
import { defaultScoringOptions, scoreRound } from '../../ml/scoring.js';
import { aggregateStep, namedReplicas, replicaGroups, type WeightedUpdate } from '../../ml/replicas.js';
import { rewardAmounts } from '../../protocol/reward-rule.js';
import { updateWeight } from '../../protocol/weights-rule.js';
import { evaluate } from '../../ml/train.js';
import { setFlatWeights } from '../../ml/weights.js';
import { hashWeights, toBytes } from '../../protocol/weights.js';
import {
  type AggregationStrategy,
  createStrategy,
  initialStrategyState,
  RunningSum,
  type StrategyState,
} from '../../ml/aggregation.js';
import type { Checkpoints } from './checkpoints.js';
import type { CoordinatorEvents } from './events.js';
import { assertTransition, decideClose, samplesNeeded } from './round-machine.js';
import type { Settlement } from '../settlement/settlement.js';
import type { Storage } from '../state/storage.js';
import { LeaseLost } from '../state/lease-table.js';
import { type CheckContext, type CheckedUpdate, RejectedUpdate, type UpdateChecker } from './update-check.js';

type RoundUpdate = WeightedUpdate & { address: string };

/** How the runner reaches clients; implemented by the socket gateway. */
export interface ClientDirectory {
  /** Addresses joined to this task over a live connection. */
  connected(taskId: string): string[];
  send<E extends keyof ServerToClientEvents>(
    taskId: string,
    address: string,
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void;
}

export interface TaskRunnerContext {
  task: TaskView;
  /** With a shared database, fenced by the task's lease (Storage.fenced): a runner that lost it cannot write. */
  storage: Storage;
  checkpoints: Checkpoints;
  directory: ClientDirectory;
  /** The task's model, used for evaluation; its weights are overwritten. */
  model: tf.LayersModel;
  evaluationSet: Dataset;
  events: EventEmitter<CoordinatorEvents>;
  checker: UpdateChecker;
  /** The coordinator's key: signs the receipt of every accepted update. */
  identity: Signer;
  /** Present when the coordinator settles on a chain; used by tasks created `onchain`. */
  settlement?: Settlement;
}

interface ActiveRound {
  number: number;
  phase: RoundPhase;
  attempts: number;
  global: Float32Array;
  globalBytes: Uint8Array;
  modelHash: string;
  deadline: number;
  timer?: NodeJS.Timeout;
  /** Every client sent this round's model, in any attempt: they may still answer. */
  sampled: Set<string>;
  /** Sampled in the current attempt and not yet answered. */
  pending: Set<string>;
  /** Answered this round, accepted or not: one submission per client per round. */
  answered: Set<string>;
  /** Whose update is being checked now: the round does not close before their verdicts. */
  verifying: Map<string, InFlight>;
  /** The current attempt's deadline passed. */
  deadlinePassed: boolean;
  /** What the round's record notes now (rounds.note), if anything. */
  note: string | null;
  sum: RunningSum;
  openedAt: number;
}

/** An update being checked, and the verdict its sender will get: the same for the same update sent again. */
interface InFlight {
  update: UpdatePayload;
  verdict: Promise<Receipt | undefined>;
}

const log = createLogger('coordinator');

/** How a short round's note ends while it waits (`clientsPerRound.whenShort: wait`). */
const waitingForClients = 'waiting for new clients';

export class TaskRunner {
  private round: ActiveRound | undefined;
  private readonly strategy: AggregationStrategy;
  private strategyState: StrategyState = [];
  /** Addresses whose stake (rewards.stake) was found locked: it stays locked until the task ends. */
  private readonly staked = new Set<string>();
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

  constructor(private readonly ctx: TaskRunnerContext) {
    this.strategy = createStrategy(ctx.task.spec.aggregation);
    this.loaded = new Promise((resolve) => (this.markLoaded = resolve));
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
    for (const address of chosen) {
      round.sampled.add(address);
      round.pending.add(address);
      this.sendStart(address);
    }
    if (chosen.length) {
      const counts = { sampled: chosen.length };
      this.persist(() => this.ctx.storage.rounds.addCounts(this.taskId, round.number, counts)).catch((error: unknown) =>
        log.error('could not count the clients sampled', { task: this.taskId, error: String(error) }),
      );
    }
    return chosen;
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
   * round or throws a coded error. Nothing of a rejected update reaches the model.
   */
  async submit(address: string, payload: UpdatePayload): Promise<Receipt | undefined> {
    await this.loaded;
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
      if (this.round === round) this.maybeClose();
    }
  }

  /** The update's proofs and values checked, then taken into the round: its receipt, or the coded refusal. */
  private async verify(round: ActiveRound, address: string, payload: UpdatePayload): Promise<Receipt | undefined> {
    const statement = taskStatement(this.ctx.task, round.number, address, round.modelHash);
    const checked = await this.ctx.checker
      .check(payload, this.ctx.task, statement, this.checkContext(round, address))
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
    const round = this.round;
    const { task } = this.ctx;
    if (this.stopped || task.status !== 'running')
      this.reject(round, address, new ZkflError('TASK_NOT_RUNNING', `task ${task.id} is ${task.status}`));
    if (!(await this.ctx.storage.holders.consent(task.id, address))) {
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
      await this.ctx.settlement?.checkStake(this.ctx.task, address);
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
      : await this.ctx.storage.updates.sameAsAccepted(this.taskId, round.number, address, payload);
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
    const { task } = this.ctx;
    const deployment = task.spec.onchain ? this.ctx.settlement?.deployment : undefined;
    return signReceipt(
      this.ctx.identity,
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
      wanted: () => !this.stopped && this.round === round,
      delayed: (reason) => {
        if (told) return;
        told = true;
        this.ctx.directory.send(this.taskId, address, 'update:pending', {
          taskId: this.taskId,
          round: round.number,
          reason,
        });
        this.note(
          round,
          `an update's verification was delayed by a fault of the verifiers (${reason}); it was verified again`,
        );
      },
    };
  }

  /** Sets what the round's record notes (null: nothing out of its usual course). */
  private note(round: ActiveRound, note: string | null): void {
    if (round.note === note) return;
    round.note = note;
    this.persist(() => this.ctx.storage.rounds.note(this.taskId, round.number, note)).catch((error: unknown) =>
      log.error('could not note the round', { task: this.taskId, error: String(error) }),
    );
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
      this.persist(() => this.ctx.storage.updates.recordRejected(this.taskId, round.number, rejection, counts)).catch(
        (error: unknown) => log.error('could not record a rejection', { task: this.taskId, error: String(error) }),
      );
      this.ctx.events.emit('update:rejected', {
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
    await this.persist(async () => {
      if (this.round !== round || round.phase !== 'training') {
        this.reject(
          round,
          address,
          new ZkflError('WRONG_ROUND', `round ${round.number} closed while the update was verified`),
          { answered: 1 },
        );
      }
      const weight = updateWeight(this.ctx.task.spec.aggregation, payload.numSamples);
      round.sum.add(checked.q, weight, checked.fractionBits, this.ctx.task.zk.chunkSize);
      // Counted as accepted from now on, so no longer as pending: sampling must not count it twice meanwhile.
      round.pending.delete(address);
      try {
        const counts = { answered: 1, proofsVerified: checked.proofsVerified, verifySeconds: checked.verifySeconds };
        await this.ctx.storage.updates.recordAccepted(this.taskId, round.number, update, round.sum, counts);
      } catch (error) {
        // The in-memory sum now holds an update the database does not: stop rather than diverge.
        this.fail(error);
        if (!(error instanceof LeaseLost)) throw new ZkflError('INTERNAL', 'could not record the update');
        // Another instance took the task over: the update is not refused, and may be sent again, to it.
        round.answered.delete(address);
        throw new ZkflError('UNAVAILABLE', 'the task moved to another coordinator instance: send the update again');
      }
    });
    this.ctx.events.emit('update:accepted', {
      taskId: this.taskId,
      round: round.number,
      address,
      numSamples: payload.numSamples,
    });
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
    const { task, storage, checkpoints, model, evaluationSet } = this.ctx;
    clearTimeout(round.timer);
    if (round.phase !== 'aggregating') {
      assertTransition(round.phase, 'aggregating');
      round.phase = 'aggregating';
      await this.persist(() => storage.rounds.setPhase(task.id, round.number, 'aggregating'));
      log.info(`round ${round.number} aggregating`, { task: task.id, accepted: round.sum.count });
    }
    // Every update accepted before the phase changed is stored; any later one is refused (see accept).
    await this.writes;
    const updates = await this.roundUpdates(round);
    const groups = replicaGroups(updates, task.zk.chunkSize, task.spec.aggregation.replicaDistance ?? 0);
    const { scoring, leftOut } = await this.score(round, updates, groups);
    // Each group of replicas counts once (ml/replicas.ts), and only contributors count (ml/scoring.ts).
    const meanDelta = aggregateStep(updates, groups, leftOut, task.zk.chunkSize, round.global.length);
    const next = this.strategy.apply(round.global, meanDelta, this.strategyState);
    setFlatWeights(model, next);
    const metrics = await evaluate(model, evaluationSet, task.spec.inputShape, task.spec.classes);
    if (this.stopped) return;
    const modelHashAfter = hashWeights(next);
    const last = round.number >= task.spec.rounds;
    checkpoints.save(task.id, round.number + 1, next, this.strategyState);
    const signed = await this.signedRecord(round, metrics, modelHashAfter, scoring);
    await storage.rounds.finish(task.id, round.number, { ...metrics, modelHashAfter, last, signed });
    await this.ctx.settlement?.sync(task);
    assertTransition(round.phase, 'evaluated');
    round.phase = 'evaluated';
    await this.announce(round, metrics);
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

  /** Tells the log, the task's clients and the coordinator's listeners that a round is done, and how it went. */
  private async announce(round: ActiveRound, metrics: { accuracy: number; loss: number }): Promise<void> {
    const { task, storage, events } = this.ctx;
    const record = (await storage.rounds.get(task.id, round.number))!;
    const rejected = record.rejected.length + record.rejectedUnlisted;
    const seconds = (Date.now() - round.openedAt) / 1000;
    log.info(`round ${round.number} done`, {
      task: task.id,
      accuracy: metrics.accuracy.toFixed(4),
      loss: metrics.loss.toFixed(4),
      participants: round.sum.count,
      rejected,
      seconds: seconds.toFixed(1),
    });
    const summary = {
      taskId: task.id,
      round: round.number,
      ...metrics,
      participants: round.sum.count,
      proofsVerified: record.proofsVerified,
      proofsRejected: record.proofsRejected,
    };
    for (const address of this.ctx.directory.connected(task.id))
      this.ctx.directory.send(task.id, address, 'round:end', summary);
    events.emit('round:end', { ...summary, rejected, seconds });
  }

  /** The round's accepted updates as stored, in the order they were accepted, with their weights. */
  private async roundUpdates(round: ActiveRound): Promise<RoundUpdate[]> {
    const { task, storage } = this.ctx;
    const stored = await storage.updates.stored(task.id, round.number);
    return stored.map((update) => ({
      address: update.address,
      fractionBits: update.fractionBits,
      weight: updateWeight(task.spec.aggregation, update.numSamples),
      q: decodeValues(update.q, task.numParams, task.zk.valueBits)!,
    }));
  }

  /**
   * Scores the round's accepted updates on the scoring set (ml/scoring.ts) and splits its pool by the task's reward
   * rule; both are stored with each update before the round's record is signed.
   */
  private async score(
    round: ActiveRound,
    updates: RoundUpdate[],
    groups: number[][],
  ): Promise<{ scoring: RoundRecord['scoring']; leftOut: Set<number> }> {
    const { task, storage, model, evaluationSet } = this.ctx;
    const { rewards, seed, aggregation } = task.spec;
    const scored = await scoreRound({
      model,
      global: round.global,
      updates,
      groups,
      chunkSize: task.zk.chunkSize,
      scoringSet: head(evaluationSet, rewards.scoringExamples),
      inputShape: task.spec.inputShape,
      classes: task.spec.classes,
      options: {
        ...defaultScoringOptions,
        maxEvaluations: rewards.scoringBudget,
        seed: seed * 1_000_003 + round.number,
      },
      ...(aggregation.contributorsOnly
        ? { contributorsOnly: { previousStep: this.previousStep(round), replayDistance: aggregation.replicaDistance } }
        : {}),
    });
    const amounts = rewardAmounts(scored.scores, BigInt(rewards.perRound), rewards);
    const replicas = namedReplicas(
      groups,
      updates.map((update) => update.address),
    );
    await storage.updates.setScores(
      task.id,
      round.number,
      updates.map((update, k) => ({ address: update.address, score: scored.scores[k]!, amount: String(amounts[k]) })),
    );
    log.info(`round ${round.number} scored`, {
      task: task.id,
      method: scored.method,
      evaluations: scored.evaluations,
      seconds: scored.seconds.toFixed(2),
    });
    const leftOut = scored.leftOut.map(({ index, why }) => ({ address: updates[index]!.address, why }));
    const scoring = {
      method: scored.method,
      evaluations: scored.evaluations,
      seconds: scored.seconds,
      roundGain: scored.roundGain,
      examples: Math.min(rewards.scoringExamples, evaluationSet.count),
      pool: rewards.perRound,
      ...(replicas.length > 0 ? { replicas } : {}),
      ...(leftOut.length > 0 ? { leftOut } : {}),
    };
    return { scoring, leftOut: new Set(scored.leftOut.map(({ index }) => index)) };
  }

  /** w_r − w_{r−1}: the step the model took last round, which an update may replay; none in round 1. */
  private previousStep(round: ActiveRound): Float32Array | undefined {
    if (round.number === 1) return undefined;
    const before = this.ctx.checkpoints.loadWeights(this.taskId, round.number - 1);
    return round.global.map((w, i) => w - before[i]!);
  }

  /** The round's audit record, signed with the coordinator's key. */
  private async signedRecord(
    round: ActiveRound,
    metrics: { accuracy: number; loss: number },
    modelHashAfter: string,
    scoring: RoundRecord['scoring'],
  ): Promise<SignedRoundRecord> {
    const { task, storage, identity } = this.ctx;
    const accepted = await storage.updates.audited(task.id, round.number, task.spec.publicAudit);
    const view = (await storage.rounds.get(task.id, round.number))!;
    const record: RoundRecord = {
      taskId: task.id,
      round: round.number,
      coordinator: await identity.getAddress(),
      modelHashBefore: round.modelHash,
      modelHashAfter,
      accuracy: metrics.accuracy,
      loss: metrics.loss,
      acceptedRoot: committedRoot(accepted),
      accepted,
      scoring,
      rejected: view.rejected.map(({ address, code, reason }) => ({ address, code, reason })),
      rejectedUnlisted: view.rejectedUnlisted,
    };
    return signRecord(identity, record);
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
  private async end(status: 'failed' | 'cancelled', reason: string): Promise<void> {
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
