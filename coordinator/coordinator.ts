/**
 * The coordinator as a library: the facade the REST API and the socket gateway call. It creates, resumes and runs
 * tasks (tasks/), hands them between instances (instances/) and answers with views built where their data lives
 * (views/). It owns storage and checkpoints; it knows clients only through a `ClientDirectory`.
 */
import * as tf from '@tensorflow/tfjs';
import { getAddress, type Wallet } from 'ethers';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { circuitFilePath, type ServedCircuitFile, servedCircuitFiles } from '../circuits/served.js';
import { loadCircuit } from '../circuits/build.js';
import { circuitParams } from '../circuits/params.js';
import { taskKey } from '../circuits/statement.js';
import { loadOrCreateWallet } from '../common/identity.js';
import { createLogger } from '../common/log.js';
import { connectRpc } from '../contracts/rpc.js';
import { initBackend } from '../ml/backend.js';
import { type Dataset } from '../ml/dataset.js';
import { buildModel } from '../ml/models.js';
import { checkCompatible } from '../ml/train.js';
import { countParams, getFlatWeights } from '../ml/weights.js';
import type { AuditBundle } from '../protocol/audit.js';
import { ZkflError } from '../common/errors.js';
import type { UpdatePayload } from '../protocol/events.js';
import type { Receipt } from '../protocol/receipt.js';
import type {
  AcceptedSetView,
  HolderView,
  InfoView,
  RoundView,
  SettlementView,
  TaskView,
  UploadView,
  ZkView,
} from '../protocol/rest.js';
import type { TaskSpec } from '../protocol/task-spec.js';
import { checkInvited } from '../protocol/holders.js';
import { type Consent, consentSigner, type TermsView } from '../protocol/terms.js';
import { hashWeights, toBytes } from '../protocol/weights.js';
import { type ClusterRequests, notHere } from './instances/cluster.js';
import { type CoordinatorDirectory, TaskLeases } from './instances/leases.js';
import type { CoordinatorOptions } from './options.js';
import { fixSettlementTerms } from './settlement/onchain-terms.js';
import { defaultSettlementOptions, Settlement } from './settlement/settlement.js';
import { Storage } from './state/storage.js';
import { LeaseLost } from './state/lease-table.js';
import { Checkpoints } from './tasks/checkpoints.js';
import { EvaluationData } from './tasks/evaluation-data.js';
import type { CoordinatorEvents } from './tasks/events.js';
import { defaultTaskLimits, type TaskLimits } from './tasks/limits.js';
import { TaskRunner } from './tasks/task-runner.js';
import { TaskAdmission, updateBytesOf } from './tasks/admission.js';
import { UpdateChecker } from './tasks/update-check.js';
import { PublicViews, scoringSetOf } from './views/views.js';

const log = createLogger('coordinator');

interface TaskRuntime {
  runner: TaskRunner;
  model: tf.LayersModel;
  evaluationSet: Dataset;
}

/** Builds a task's model just to describe it (topology and weight names); cached, it never changes. */
async function describeModel(spec: TaskSpec): Promise<object> {
  const model = await buildModel(spec.model, spec.inputShape, spec.classes, spec.seed);
  try {
    return layersModelJson(model);
  } finally {
    model.dispose();
  }
}

/** What the coordinator library reads of the options (the rest are the server's). */
type LibraryOptions = Pick<
  CoordinatorOptions,
  | 'dataDir'
  | 'circuit'
  | 'verifierProcesses'
  | 'verifyTimeoutMs'
  | 'redis'
  | 'keyFile'
  | 'keyPassword'
  | 'chain'
  | 'settlement'
  | 'rejectionLimits'
  | 'owners'
  | 'limits'
  | 'dataRoot'
  | 'leaseSeconds'
  | 'maxPayloadBytes'
>;

export class Coordinator {
  readonly events = new EventEmitter<CoordinatorEvents>();
  private readonly storage: Storage;
  private readonly checkpoints: Checkpoints;
  private readonly runtimes = new Map<string, TaskRuntime>();
  private readonly modelJsons = new Map<string, Promise<object>>();

  private readonly checker: UpdateChecker;
  /** Signs receipts (and, with a chain, settlement transactions). */
  readonly identity: Wallet;
  private readonly settlement: Settlement | undefined;
  private readonly limits: TaskLimits;
  private readonly evaluationData: EvaluationData;
  private readonly admission: TaskAdmission;
  private readonly views: PublicViews;
  /** This instance's name in leases and requests: unique per process. */
  readonly instance = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly leases: TaskLeases;
  private uploadSweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly options: LibraryOptions,
    private readonly directory: CoordinatorDirectory,
    storage: Storage,
  ) {
    this.storage = storage;
    this.checkpoints = new Checkpoints(options.dataDir);
    this.checker = new UpdateChecker(options);
    this.identity = loadOrCreateWallet(
      options.keyFile ?? join(options.dataDir, 'coordinator-key.json'),
      options.keyPassword,
    );
    this.limits = { ...defaultTaskLimits, ...options.limits };
    this.evaluationData = new EvaluationData(options.dataDir, options.dataRoot, this.limits, storage);
    this.settlement = options.chain && this.settleOn(options.chain);
    this.admission = new TaskAdmission({
      storage,
      limits: this.limits,
      owners: options.owners && new Set(options.owners.map((owner) => getAddress(owner))),
      settlement: this.settlement,
      options,
    });
    this.leases = new TaskLeases(
      storage,
      this.instance,
      (options.leaseSeconds ?? 10) * 1000,
      directory,
      {
        runner: (taskId) => this.runtimes.get(taskId)?.runner,
        drop: (taskId) => this.drop(taskId),
        resume: (task) => this.resumeTask(task),
        getTask: (id) => this.getTask(id),
      },
      options.chain !== undefined,
    );
    this.views = new PublicViews({
      storage: this.storage,
      checkpoints: this.checkpoints,
      settlement: this.settlement,
      info: () => this.info(),
      getTask: (id) => this.getTask(id),
      getRound: (taskId, round) => this.getRound(taskId, round),
      evaluationSet: async (task) =>
        this.runtimes.get(task.id)?.evaluationSet ?? (await this.loadEvaluationSet(task.spec, true)),
    });
  }

  /** Settlement on the chain the options name, sending as this coordinator's identity. */
  private settleOn({ rpcUrl, deployment }: NonNullable<LibraryOptions['chain']>): Settlement {
    const wallet = this.identity.connect(connectRpc(rpcUrl, deployment.chainId));
    return new Settlement(
      this.storage,
      wallet,
      deployment,
      { ...defaultSettlementOptions, ...this.options.settlement },
      // Instances sharing a database send the coordinator's transactions one at a time, from one of them.
      () => !this.storage.shared || this.leases.holdsChain,
    );
  }

  /** Who this coordinator is and where it settles. */
  info(): InfoView {
    const deployment = this.settlement?.deployment;
    return {
      coordinator: this.identity.address,
      chain: deployment
        ? {
            chainId: deployment.chainId,
            rewards: deployment.rewards,
            token: deployment.token,
            verifiers: deployment.verifiers,
            publicRpcUrl: this.options.chain?.publicRpcUrl ?? null,
          }
        : null,
    };
  }

  /** The round's accepted set (see PublicViews.acceptedSet). */
  acceptedSet(taskId: string, round: number): Promise<AcceptedSetView> {
    return this.views.acceptedSet(taskId, round);
  }

  settlementOf(taskId: string): Promise<SettlementView> {
    return this.views.settlementOf(taskId);
  }

  holder(address: string): Promise<HolderView> {
    return this.views.holder(address);
  }

  terms(taskId: string): Promise<TermsView> {
    return this.views.terms(taskId);
  }

  auditBundle(taskId: string): Promise<AuditBundle> {
    return this.views.auditBundle(taskId);
  }

  /** The same bundle as JSON text in pieces, a round's record at a time (what the audit API streams). */
  auditJson(taskId: string): AsyncGenerator<string> {
    return this.views.auditJson(taskId);
  }

  /** A proving artifact of a circuit built here, for clients on other machines (they check it; circuits/fetch.ts). */
  circuitFile(name: string, file: string): string {
    const params = Object.values(circuitParams).find((candidate) => candidate.name === name);
    const artifacts = params && loadCircuit(params);
    if (!artifacts || !(servedCircuitFiles as readonly string[]).includes(file)) {
      throw new ZkflError('NOT_FOUND', `no circuit file ${name}/${file} here`);
    }
    return join(artifacts.dir, circuitFilePath(name, file as ServedCircuitFile));
  }

  /** Settlement transactions not yet on-chain. */
  async pendingSettlement(): Promise<number> {
    return (await this.settlement?.pending())?.length ?? 0;
  }

  /**
   * Resumes every task that was running when the coordinator last stopped, and whatever it still owes the chain.
   * With a shared database it runs only the tasks whose lease it gets, and from then on renews them, takes over
   * those whose instance stopped renewing, and lets go of those it lost. `cluster` reaches the other instances.
   */
  async resume(cluster?: ClusterRequests): Promise<void> {
    this.leases.reach(cluster);
    this.sweepUploads();
    await initBackend();
    for (const task of await this.storage.tasks.list()) await this.settlement?.sync(task);
    if (this.storage.shared) {
      await this.leases.keep();
      return;
    }
    for (const task of await this.storage.tasks.list('running')) await this.resumeTask(task);
  }

  /** Expired uploads go now and then: every quarter of their time to live, at least hourly. */
  private sweepUploads(): void {
    if (this.closed) return;
    this.evaluationData
      .sweep()
      .catch((error: Error) => log.warn('cannot sweep uploads', { error: error.message }))
      .finally(() => {
        if (this.closed) return;
        const every = Math.min(this.limits.uploadTtlSeconds / 4, 3600) * 1000;
        this.uploadSweeper = setTimeout(() => this.sweepUploads(), every).unref();
      });
  }

  private async resumeTask(task: TaskView): Promise<void> {
    log.info('resuming task', { task: task.id, round: task.currentRound });
    try {
      await this.launch(task);
    } catch (error) {
      // One task that cannot resume (its evaluation set is gone, say) must not keep the others from running.
      log.error('task cannot resume; marked failed', { task: task.id, error: (error as Error).message });
      await this.storage.tasks.end(task.id, 'failed', `it could not resume: ${(error as Error).message}`);
      await this.leases.release(task.id);
    }
  }

  /** Stops running a task here: its lease went to another instance, or it starts here again. */
  private drop(taskId: string): void {
    const runtime = this.runtimes.get(taskId);
    if (!runtime) return;
    runtime.runner.stop();
    runtime.model.dispose();
    this.runtimes.delete(taskId);
  }

  /** A request from another instance for a task this one runs (see TaskLeases.whereRunning). */
  async handleRequest(kind: string, body: unknown): Promise<unknown> {
    const { taskId } = body as { taskId: string };
    const runner = this.runtimes.get(taskId)?.runner;
    if (!runner?.running) throw notHere;
    try {
      if (kind === 'update') {
        const { address, payload } = body as { address: string; payload: UpdatePayload };
        return (await runner.submit(address, payload)) ?? null;
      }
      if (kind === 'cancel') return await runner.cancel();
    } catch (error) {
      // Another instance took the task over while this one handled the request: the asker tries there.
      throw error instanceof LeaseLost ? notHere : error;
    }
    throw new Error(`unknown request ${kind}`);
  }

  /**
   * Creates and starts a task for `owner`, a signed-in address. The spec is checked against the limits before
   * anything is loaded or allocated; the owner becomes the task's (and must be the one who escrows its pool).
   */
  async createTask(input: unknown, owner: string): Promise<TaskView> {
    const spec = await this.admission.admit(input, owner);
    await initBackend();
    const evaluationSet = await this.loadEvaluationSet(spec);
    // The escrow's deadline is judged by the chain's clock, which may run ahead of this machine's.
    const now = spec.onchain ? await this.settlement!.chainTime() : Math.floor(Date.now() / 1000);
    const model = await buildChecked(spec);
    const initial = getFlatWeights(model);
    let zk: ZkView;
    try {
      zk = this.admission.zkFor(spec, initial.length);
      fixSettlementTerms(spec, zk.chunks, now);
    } catch (error) {
      model.dispose();
      throw error;
    }
    const id = `t-${randomBytes(6).toString('hex')}`;
    await this.leases.hold(id);
    try {
      if (spec.publicAudit) {
        this.checkpoints.saveScoringSet(id, scoringSetOf(evaluationSet, spec.rewards.scoringExamples));
      }
      await this.storage.tasks.create({ id, spec, zk, numParams: initial.length, modelHash: hashWeights(initial) });
    } catch (error) {
      model.dispose();
      await this.leases.release(id);
      throw error;
    }
    const task = (await this.storage.tasks.get(id))!;
    log.info('task created', { task: id, params: initial.length, rounds: spec.rounds });
    await this.launch(task, { model, evaluationSet, initial });
    return task;
  }

  /** The task's owner cancels it (see TaskRunner.cancel); anyone else is FORBIDDEN. */
  async cancelTask(taskId: string, owner: string): Promise<TaskView> {
    const task = await this.getTask(taskId);
    if (task.spec.owner !== owner)
      throw new ZkflError('FORBIDDEN', `only the task's owner ${task.spec.owner} cancels it`);
    if (task.status !== 'running') throw new ZkflError('TASK_NOT_RUNNING', `task ${taskId} is ${task.status}`);
    await this.leases.whereRunning(taskId, (runner) => runner.cancel(), { kind: 'cancel', body: { taskId } });
    log.info('task cancelled by its owner', { task: taskId, owner });
    return this.getTask(taskId);
  }

  /** Stores an owner's evaluation set (see coordinator/tasks/evaluation-data.ts). */
  upload(body: unknown, owner: string): Promise<UploadView> {
    this.admission.checkOwner(owner);
    return this.evaluationData.upload(body, owner);
  }

  /** The evaluation set of a new task (`stored` false) or of one this coordinator already accepted. */
  private async loadEvaluationSet(spec: TaskSpec, stored = false): Promise<Dataset> {
    const dataset = await this.evaluationData.load(spec.evaluation, stored ? 'stored' : { owner: spec.owner! });
    const field = spec.evaluation.upload === undefined ? 'evaluation.path' : 'evaluation.upload';
    try {
      checkCompatible(dataset, spec.inputShape, spec.classes);
    } catch (error) {
      if (error instanceof ZkflError) throw new ZkflError('VALIDATION_FAILED', error.message, field);
      throw error;
    }
    return dataset;
  }

  private async launch(
    task: TaskView,
    prepared?: { model: tf.LayersModel; evaluationSet: Dataset; initial: Float32Array },
  ): Promise<void> {
    const model =
      prepared?.model ?? (await buildModel(task.spec.model, task.spec.inputShape, task.spec.classes, task.spec.seed));
    const evaluationSet = prepared?.evaluationSet ?? (await this.loadEvaluationSet(task.spec, true));
    const runner = new TaskRunner({
      task,
      storage: this.leases.storageFor(task.id),
      checkpoints: this.checkpoints,
      directory: this.directory,
      model,
      evaluationSet,
      events: this.events,
      checker: this.checker,
      identity: this.identity,
      ...(this.settlement ? { settlement: this.settlement } : {}),
    });
    this.drop(task.id);
    this.runtimes.set(task.id, { runner, model, evaluationSet });
    await runner.start(prepared?.initial);
  }

  async getTask(id: string): Promise<TaskView> {
    const task = await this.storage.tasks.get(id);
    if (!task) throw new ZkflError('NOT_FOUND', `no task ${id}`);
    return this.withLive(task);
  }

  async listTasks(): Promise<TaskView[]> {
    return (await this.storage.tasks.list()).map((task) => this.withLive(task));
  }

  /** The same list as JSON text in pieces, read a page of tasks at a time (what the tasks API streams). */
  async *tasksJson(pageSize = 100): AsyncGenerator<string> {
    yield '[';
    let after: TaskView | undefined;
    for (let first = true; ;) {
      const page = await this.storage.tasks.page(after, pageSize);
      for (const task of page) {
        yield `${first ? '' : ','}${JSON.stringify(this.withLive(task))}`;
        first = false;
      }
      if (page.length < pageSize) break;
      after = page.at(-1);
    }
    yield ']';
  }

  /** The stored task and what only the running coordinator knows: its connected clients, its round's deadline. */
  private withLive(task: TaskView): TaskView {
    const runner = this.runtimes.get(task.id)?.runner;
    if (!runner) return task;
    const deadline = runner.trainingDeadline();
    return {
      ...task,
      connected: this.directory.connected(task.id).length,
      ...(deadline === undefined ? {} : { roundDeadline: new Date(deadline).toISOString() }),
    };
  }

  async listRounds(taskId: string): Promise<RoundView[]> {
    await this.getTask(taskId);
    return this.storage.rounds.list(taskId);
  }

  /**
   * The task's rounds as JSON text in pieces, one round's view at a time (what the rounds API streams): a long task's
   * rounds and participants need not fit in memory at once, however many read them.
   */
  async *roundsJson(taskId: string): AsyncGenerator<string> {
    await this.getTask(taskId);
    yield '[';
    for (let round = 1; ; round++) {
      const view = await this.storage.rounds.get(taskId, round);
      if (!view) break;
      yield `${round > 1 ? ',' : ''}${JSON.stringify(view)}`;
    }
    yield ']';
  }

  async getRound(taskId: string, round: number): Promise<RoundView> {
    await this.getTask(taskId);
    const view = await this.storage.rounds.get(taskId, round);
    if (!view) throw new ZkflError('NOT_FOUND', `task ${taskId} has no round ${round}`);
    return view;
  }

  /** The task's model topology and weight manifest in TF.js layers format (`model.json`). */
  async modelJson(taskId: string): Promise<object> {
    const task = await this.getTask(taskId);
    let json = this.modelJsons.get(taskId);
    if (!json) {
      const runtime = this.runtimes.get(taskId);
      json = runtime ? Promise.resolve(layersModelJson(runtime.model)) : describeModel(task.spec);
      this.modelJsons.set(taskId, json);
    }
    return json;
  }

  /** Which global model `afterRound` names: the one after that many rounds (0: initial), by default the newest. */
  async modelRound(taskId: string, afterRound?: number): Promise<number> {
    const task = await this.getTask(taskId);
    // The current round's model exists once it closed: the last round of a completed task, not the round a task
    // stopped at (one its privacy budget kept from being released, or one abandoned).
    const current = await this.storage.rounds.phase(taskId, task.currentRound);
    const newest = current === 'evaluated' ? task.currentRound : task.currentRound - 1;
    const round = afterRound ?? newest;
    if (!Number.isInteger(round) || round < 0 || round > newest) {
      throw new ZkflError('NOT_FOUND', `task ${taskId} has models after rounds 0 to ${newest}, not ${afterRound}`);
    }
    return round;
  }

  /** The global weights after `afterRound` rounds (see `modelRound`). */
  async modelWeights(taskId: string, afterRound?: number): Promise<Uint8Array> {
    return toBytes(this.checkpoints.loadWeights(taskId, (await this.modelRound(taskId, afterRound)) + 1));
  }

  /**
   * A client joins a task's pool; it is sampled into rounds from now on. It must have agreed to the task's current
   * terms: with this join (a consent signed by its address) or an earlier one. A task for known holders takes only
   * the addresses it names, before it records any consent.
   */
  async join(taskId: string, address: string, consent?: Consent): Promise<{ round: number }> {
    const task = await this.getTask(taskId);
    if (task.status !== 'running') throw new ZkflError('TASK_NOT_RUNNING', `task ${taskId} is ${task.status}`);
    checkInvited(taskId, task.spec.holders, address);
    const { termsHash: current } = this.views.termsOf(task);
    if (consent) {
      if (consent.taskKey !== taskKey(taskId) || consent.termsHash !== current) {
        throw new ZkflError(
          'CONSENT_REQUIRED',
          `the consent is not to the current terms of task ${taskId} (${current})`,
        );
      }
      if (consentSigner(consent) !== address) {
        throw new ZkflError('CONSENT_REQUIRED', `the consent is not signed by ${address}`);
      }
      await this.storage.holders.recordConsent(taskId, address, consent);
    } else if ((await this.storage.holders.consent(taskId, address))?.termsHash !== current) {
      throw new ZkflError(
        'CONSENT_REQUIRED',
        `agree to the terms of task ${taskId} first: GET /api/tasks/${taskId}/terms, then join with a signed consent`,
      );
    }
    return { round: task.currentRound };
  }

  /**
   * Called by the gateway once the directory lists the client under the task; `took` names an address whose older
   * connection this one replaced.
   */
  clientJoined(taskId: string, took?: string): void {
    const runner = this.runtimes.get(taskId)?.runner;
    if (took !== undefined) runner?.connectionReplaced(took);
    runner?.clientAvailable();
  }

  clientLeft(taskId: string, address: string): void {
    this.runtimes.get(taskId)?.runner.clientGone(address);
  }

  /** The most an update for the task can weigh on the wire (a connection joined to it may send that much). */
  async updateBytes(taskId: string): Promise<number> {
    const { numParams, zk } = await this.getTask(taskId);
    return updateBytesOf(numParams, zk);
  }

  /** Checks and takes an update; resolves with the coordinator's signed receipt when the task takes proofs. */
  async submitUpdate(
    address: string,
    joinedTaskId: string | undefined,
    payload: UpdatePayload,
  ): Promise<Receipt | undefined> {
    const runner = this.runtimes.get(payload.taskId)?.runner;
    // A task running here exists: only for another one does a wrong id cost a read.
    if (!runner?.running) await this.getTask(payload.taskId);
    if (joinedTaskId !== payload.taskId) {
      throw new ZkflError(
        'WRONG_TASK',
        `update is for task ${payload.taskId}; this connection joined ${joinedTaskId ?? 'no task'}`,
      );
    }
    const receipt = await this.leases.whereRunning(payload.taskId, (here) => here.submit(address, payload), {
      kind: 'update',
      body: { taskId: payload.taskId, address, payload },
    });
    return receipt ?? undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.leases.stop();
    clearTimeout(this.uploadSweeper);
    for (const { runner, model } of this.runtimes.values()) {
      runner.stop();
      model.dispose();
    }
    // Another instance may take these over at once, rather than once their leases expire.
    await this.leases.close();
    this.runtimes.clear();
    await this.checker.close();
    await this.settlement?.close();
    await this.storage.close();
  }
}

async function buildChecked(spec: TaskSpec): Promise<tf.LayersModel> {
  let model: tf.LayersModel;
  try {
    model = await buildModel(spec.model, spec.inputShape, spec.classes, spec.seed);
  } catch (error) {
    throw new ZkflError('VALIDATION_FAILED', `model cannot be built: ${(error as Error).message}`, 'model');
  }
  const outputShape = tf.tidy(() => (model.predict(tf.zeros([1, ...spec.inputShape])) as tf.Tensor).shape);
  if (outputShape.length !== 2 || outputShape[1] !== spec.classes) {
    model.dispose();
    throw new ZkflError(
      'VALIDATION_FAILED',
      `model outputs shape [${outputShape.join(', ')}], expected [1, ${spec.classes}]`,
      'model',
    );
  }
  if (countParams(model) === 0) throw new ZkflError('VALIDATION_FAILED', 'model has no trainable parameters', 'model');
  return model;
}

function layersModelJson(model: tf.LayersModel): object {
  return {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: null,
    modelTopology: model.toJSON(null, false),
    weightsManifest: [
      {
        paths: ['weights.bin'],
        weights: model.weights.map((weight) => ({ name: weight.originalName, shape: weight.shape, dtype: 'float32' })),
      },
    ],
  };
}
