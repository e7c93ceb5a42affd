/**
 * The client's core, the same on every platform: its connection to a task (sign-in on every reconnection, join with
 * its consent), and for each round it is sampled for: train on the global model, clip, quantize, commit and prove,
 * send, keep the receipt; then settle. What differs between Node and a browser — files, keys, the proving keys'
 * cache, threads — is resolved before (client/client.ts for Node) and handed over in a Session.
 */
import type * as tf from '@tensorflow/tfjs';
import { io, type Socket } from 'socket.io-client';
import { encodeValues, quantizationFor, quantizeUpdate } from '../../circuits/codec.js';
import { randomSalt } from '../../circuits/salt.js';
import { circuitNamed } from '../../circuits/params.js';
import type { UpdateProver } from '../../circuits/update-prover.js';
import { taskKey, taskStatement } from '../../circuits/statement.js';
import { createLogger } from '../../common/log.js';
import { Random } from '../../common/random.js';
import { solidityChunkProof, updateCommitment } from '../../contracts/accepted-set.js';
import type { BackendName } from '../../ml/backend.js';
import type { Dataset } from '../../ml/dataset.js';
import { type TrainingProgress, trainingSeed, trainLocal } from '../../ml/train.js';
import { getFlatWeights, setFlatWeights } from '../../ml/weights.js';
import type { CoordinatorApi } from '../../protocol/api.js';
import { type ErrorBody, ZkflError } from '../../common/errors.js';
import {
  type Ack,
  type ClientToServerEvents,
  type RoundEndPayload,
  type RoundStartPayload,
  type ServerToClientEvents,
  type UpdatePayload,
} from '../../protocol/events.js';
import { type Receipt, type ReceiptChain, receiptSigner } from '../../protocol/receipt.js';
import type { TaskView } from '../../protocol/rest.js';
import { signIn } from '../../protocol/sign-in.js';
import type { TaskStatus } from '../../protocol/states.js';
import type { Consent } from '../../protocol/terms.js';
import { fromBytes, hashWeights } from '../../protocol/weights.js';
import type { HolderSigner, Settling } from './settling.js';

/** What the round loop takes from the caller's options. */
export interface RoundOptions {
  /** Seconds to wait for the coordinator to acknowledge an update. @default 120 */
  ackTimeoutSeconds?: number;
  /** Seconds to keep settling after the task ends before giving up (what is owed stays on disk). @default 300 */
  settleTimeoutSeconds?: number;
  /** Progress and state changes, for a display. */
  onEvent?: (event: ClientEvent) => void;
}

export type ClientEvent =
  | { type: 'ready'; address: string; backend: BackendName; examples: number }
  /** The client asks its wallet to sign in: once per session, not at every reconnection. */
  | { type: 'signing in' }
  | { type: 'consented'; taskId: string; termsHash: string }
  | { type: 'joined'; taskId: string; round: number }
  | { type: 'round:start'; round: number }
  | { type: 'training'; round: number; progress: TrainingProgress }
  /** Local training done: its wall time over its epochs. */
  | { type: 'trained'; round: number; epochs: number; seconds: number; loss: number }
  | { type: 'proving'; round: number; done: number; total: number }
  /** Every chunk proven: wall time, and the time spent per chunk (witness + proof, summed over prover processes). */
  | { type: 'proved'; round: number; chunks: number; seconds: number; chunkSeconds: number }
  /** The coordinator's verdict: its signed receipt when it accepted an update of a task that takes proofs. */
  | { type: 'submitted'; round: number; accepted: boolean; receipt?: Receipt; error?: ErrorBody }
  /** The coordinator keeps the update but its verifiers failed it for now: the verdict comes later. */
  | { type: 'pending'; round: number; reason: string }
  | { type: 'round:end'; summary: RoundEndPayload }
  | { type: 'disconnected'; reason: string };

export interface ClientResult {
  status: TaskStatus;
  address: string;
  /** Rounds whose update the coordinator accepted. */
  roundsContributed: number;
  /**
   * For `onchain` tasks: token base units received (claims and omission compensation), rounds still being settled,
   * and rounds the coordinator left out of its posted set.
   */
  rewards?: { claimed: string; owed: number; omitted: number };
  /**
   * For private tasks: the ε this task spent (at its δ), and the address's ledger on this coordinator (every private
   * task it consented to, summed by basic composition).
   */
  privacy?: { epsilon: number; delta: number; ledger: { epsilon: number; delta: number } };
}

/** What a private task spent of the holder's privacy, and its ledger here, from the coordinator's holder view. */
export async function privacySpent(
  api: Pick<CoordinatorApi, 'holder'>,
  taskId: string,
  address: string,
): Promise<ClientResult['privacy']> {
  const holder = await api.holder(address);
  const task = holder.tasks.find((entry) => entry.taskId === taskId)?.privacy;
  if (!task || !holder.privacy) return undefined;
  return { ...task, ledger: { epsilon: holder.privacy.epsilon, delta: holder.privacy.delta } };
}

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const log = createLogger('client');

/** Settles what the task owes this client (until settleTimeoutSeconds), takes any stake back, and sums it up. */
export async function settleOwed(
  settlement: Settling,
  taskId: string,
  options: RoundOptions,
): Promise<NonNullable<ClientResult['rewards']>> {
  await settlement.settle(taskId, Date.now() + (options.settleTimeoutSeconds ?? 300) * 1000);
  await settlement.releaseStake(taskId);
  const entries = settlement.all(taskId);
  const count = (...states: string[]): number => entries.filter((entry) => states.includes(entry.state)).length;
  const claimed = entries.reduce((sum, entry) => sum + BigInt(entry.reward ?? 0), 0n);
  return {
    claimed: String(claimed),
    owed: settlement.owed(taskId).length,
    omitted: count('omitted', 'compensated', 'lost'),
  };
}

export interface Session {
  prover: UpdateProver | undefined;
  /**
   * Rounds of this task the coordinator already took an update of this address for (a reloaded page's kept receipts,
   * the coordinator's holder view): a round:start for one of them asks for nothing.
   */
  acceptedRounds?: readonly number[];
  /** Sent with every join. */
  consent: Consent;
  options: RoundOptions;
  api: CoordinatorApi;
  task: TaskView;
  wallet: HolderSigner;
  dataset: Dataset;
  model: tf.LayersModel;
  settlement:
    | {
        settlement: Settling;
        /** The coordinator's address: receipts and the escrow must name it. */
        coordinator: string;
        /** The deployment's verifier for the task's circuit. */
        verifier: string | undefined;
        /** The EIP-712 domain receipts must be signed under to be enforceable on-chain. */
        receiptChain: ReceiptChain;
        escrowChecked: boolean;
      }
    | undefined;
}

export function serveRounds(session: Session): Promise<ClientResult> {
  return new Promise<ClientResult>((resolve, reject) => new RoundLoop(session, resolve, reject).start());
}

/**
 * One client's connection to a task: signs in (again on every reconnection), joins with its consent, trains and
 * sends an update for each round it is sampled for, and settles when the task ends.
 */
class RoundLoop {
  private readonly socket: ClientSocket;
  /** Rounds whose update was accepted, and rounds being worked on: a round:start sent again asks for nothing. */
  private readonly accepted: Set<number>;
  private readonly working = new Set<number>();
  private refusedLogins = 0;
  /** The rounds' work, one after another. */
  private work = Promise.resolve();
  /** Joined over the current connection; and who waits for the next join. */
  private joined = false;
  private readonly joinWaiters: Array<(joined: boolean) => void> = [];
  /** The session this client's connections sign in with (`handshake`). */
  private sessionToken?: string;

  constructor(
    private readonly session: Session,
    private readonly resolve: (result: ClientResult) => void,
    private readonly reject: (error: ZkflError) => void,
  ) {
    const { api } = session;
    this.accepted = new Set(session.acceptedRounds);
    this.socket = io(api.base, {
      transports: ['websocket'],
      autoConnect: false,
      auth: (deliver) => void this.handshake().then(deliver, () => deliver({})),
    });
  }

  /**
   * What the next (re)connection signs in with: the session one sign-in opened, for as long as it lives, so that a
   * wallet asks its holder once rather than at every dropped connection. A refused session (expired, or forgotten by
   * a restarted coordinator) is dropped in `loginRefused`, and the next attempt signs in afresh.
   */
  private async handshake(): Promise<{ session: string }> {
    if (this.sessionToken === undefined) {
      const { api, wallet } = this.session;
      this.emit({ type: 'signing in' });
      this.sessionToken = (await api.session(await signIn(wallet, api.base, await api.nonce()))).token;
    }
    return { session: this.sessionToken };
  }

  start(): void {
    const { socket } = this;
    socket.on('connect', () => this.join());
    socket.on('connect_error', (error: Error & { data?: ErrorBody }) => this.loginRefused(error));
    socket.on('disconnect', (reason) => {
      this.joined = false;
      this.emit({ type: 'disconnected', reason });
      if (reason !== 'io client disconnect') log.warn('disconnected from the coordinator', { reason });
    });
    socket.on('round:start', (payload) => this.roundStarted(payload));
    socket.on('round:end', (summary) => this.roundEnded(summary));
    socket.on('task:end', ({ status }) => void this.work.then(() => this.finish(status)));
    socket.on('zkfl:error', (error) => {
      // Another client signed in with this key took over: two clients cannot share one address.
      if (error.code === 'SUPERSEDED') this.fatal(new ZkflError(error.code, error.message));
      else log.warn('coordinator reported an error', { ...error });
    });
    socket.connect();
  }

  private emit(event: ClientEvent): void {
    this.session.options.onEvent?.(event);
  }

  private join(): void {
    const { task, consent, api } = this.session;
    this.refusedLogins = 0;
    this.socket.emit('join', { taskId: task.id, consent }, (response) => {
      if (response.ok) {
        this.emit({ type: 'joined', taskId: task.id, round: response.round });
        log.info('joined task', { task: task.id, round: response.round });
        this.joined = true;
        for (const answer of this.joinWaiters.splice(0)) answer(true);
      } else if (response.error.code === 'TASK_NOT_RUNNING') {
        // Ended before (or while) this client was away: how it ended is the task's status, not this refusal.
        api.task(task.id).then(
          (ended) => this.finish(ended.status),
          (error: unknown) =>
            this.fatal(error instanceof ZkflError ? error : new ZkflError('UNAVAILABLE', String(error))),
        );
      } else {
        this.fatal(new ZkflError(response.error.code, response.error.message));
      }
    });
  }

  private loginRefused(error: Error & { data?: ErrorBody }): void {
    if (error.data?.code !== 'AUTH_FAILED') return; // transport errors: socket.io keeps reconnecting
    this.sessionToken = undefined;
    // A refused login does not reconnect by itself; a session or nonce lost to a coordinator restart is worth a retry.
    if (++this.refusedLogins > 3) this.fatal(new ZkflError('AUTH_FAILED', error.message));
    else setTimeout(() => this.socket.connect(), 500 * this.refusedLogins);
  }

  /** True once the client is (or is again) joined to the task, false if not within `ms`. */
  private rejoined(ms: number): Promise<boolean> {
    if (this.joined && this.socket.connected) return new Promise((resolve) => setTimeout(() => resolve(true), 1000));
    return new Promise((resolve) => {
      const answer = (joined: boolean): void => {
        clearTimeout(timer);
        resolve(joined);
      };
      const timer = setTimeout(() => answer(false), ms);
      this.joinWaiters.push(answer);
    });
  }

  private roundStarted(payload: RoundStartPayload): void {
    const { accepted, working } = this;
    // A round this client is working on or was accepted for needs nothing more from it: a start sent again (after
    // a reconnection, or a coordinator restart) is not worth a second training and proof.
    if (working.has(payload.round) || accepted.has(payload.round)) {
      log.info(`round ${payload.round}: already ${accepted.has(payload.round) ? 'accepted' : 'in progress'}`);
      return;
    }
    working.add(payload.round);
    this.work = this.work
      .then(() => trainAndSubmit(this.session, this.socket, payload, (ms) => this.rejoined(ms)))
      .then(
        (ok) => {
          if (ok) accepted.add(payload.round);
        },
        (error: unknown) => {
          // A stake this key cannot lock will not lock next round either: stop, saying what to fund.
          if (error instanceof ZkflError && error.code === 'STAKE_REQUIRED') this.fatal(error);
          else log.error('round failed', { round: payload.round, error: (error as Error).message });
        },
      )
      .finally(() => working.delete(payload.round));
  }

  private roundEnded(summary: RoundEndPayload): void {
    const { options, task } = this.session;
    this.emit({ type: 'round:end', summary });
    // Find each round's leaf (or claim its omission) while its challenge window is open; claims wait for the end,
    // when one transaction takes every round.
    const settlement = this.session.settlement?.settlement;
    if (settlement?.owed(task.id).length) {
      void settlement.settle(task.id, Date.now() + (options.settleTimeoutSeconds ?? 300) * 1000, false);
    }
  }

  /** No more joins: whoever waits for one (an update to send again) stops waiting, so the client can end. */
  private leave(): void {
    this.socket.disconnect();
    for (const answer of this.joinWaiters.splice(0)) answer(false);
  }

  private finish(status: TaskStatus): void {
    const { options, task, wallet } = this.session;
    this.leave();
    const result = { status, address: wallet.address, roundsContributed: this.accepted.size };
    const settlement = this.session.settlement?.settlement;
    if (!settlement) return this.resolve(result);
    void settleOwed(settlement, task.id, options).then((rewards) => this.resolve({ ...result, rewards }));
  }

  private fatal(error: ZkflError): void {
    this.leave();
    this.reject(error);
  }
}

/**
 * Trains one round from the global model and sends the update; true when the coordinator accepted it. `rejoined`
 * waits until the client is joined again after a lost connection (false after the given milliseconds).
 */
async function trainAndSubmit(
  session: Session,
  socket: ClientSocket,
  start: RoundStartPayload,
  rejoined: (ms: number) => Promise<boolean>,
): Promise<boolean> {
  const { options, task, dataset, model, wallet } = session;
  const emit = (event: ClientEvent): void => options.onEvent?.(event);
  const global = fromBytes(start.weights);
  if (hashWeights(global) !== start.modelHash) throw new Error(`round ${start.round}: model does not match its hash`);
  if (session.settlement && !session.settlement.escrowChecked) {
    // Work for an onchain task only once its reward pool is escrowed on terms that can pay it.
    const { settlement, coordinator, verifier } = session.settlement;
    const problem = await settlement.escrowProblem(task, coordinator, verifier);
    if (problem) {
      log.warn(`round ${start.round}: not training: ${problem}`);
      return false;
    }
    await settlement.lockStake(task);
    session.settlement.escrowChecked = true;
  }
  emit({ type: 'round:start', round: start.round });
  setFlatWeights(model, global);
  const trainingStarted = performance.now();
  const result = await trainLocal(model, dataset, start.training, {
    inputShape: task.spec.inputShape,
    classes: task.spec.classes,
    seed: trainingSeed(wallet.address, start.round),
    onProgress: (progress) => emit({ type: 'training', round: start.round, progress }),
  });
  const seconds = (performance.now() - trainingStarted) / 1000;
  emit({ type: 'trained', round: start.round, epochs: start.training.localEpochs, seconds, loss: result.loss });
  const local = getFlatWeights(model);
  const delta = local.map((value, i) => value - global[i]!);
  const contribution = await contribute(session, start, delta);
  const ackSeconds = options.ackTimeoutSeconds ?? 120;
  const update = {
    taskId: task.id,
    round: start.round,
    // The coordinator weighs by at most 2^20 examples (its integer sums stay exact).
    numSamples: Math.min(result.numSamples, 2 ** 20),
    ...contribution,
    trainLoss: result.loss,
  };
  const onPending = (reason: string): void => {
    log.info(`round ${start.round}: the update is kept, its verification delayed by the coordinator: ${reason}`);
    emit({ type: 'pending', round: start.round, reason });
  };
  const response = await submitUntilAnswered(socket, ackSeconds, update, onPending, rejoined);
  if (response.ok) {
    log.info(`round ${start.round}: update accepted`, { loss: result.loss.toFixed(4), examples: result.numSamples });
    if (session.settlement) keepReceipt(session, start.round, contribution, response.receipt);
    emit({ type: 'submitted', round: start.round, accepted: true, receipt: response.receipt });
  } else {
    log.warn(`round ${start.round}: update rejected`, { ...response.error });
    emit({ type: 'submitted', round: start.round, accepted: false, error: response.error });
  }
  return response.ok;
}

/**
 * Sends the update, and again while there is no verdict (the connection dropped, or the coordinator's instance went
 * away), once joined again, up to three times: the coordinator answers with a code if the round no longer wants it,
 * or with its receipt again if it already has it.
 */
async function submitUntilAnswered(
  socket: ClientSocket,
  ackSeconds: number,
  update: UpdatePayload,
  onPending: (reason: string) => void,
  rejoined: (ms: number) => Promise<boolean>,
): Promise<Awaited<ReturnType<typeof submit>>> {
  let response = await submit(socket, ackSeconds, update, onPending);
  for (let retry = 1; !response.ok && response.error.code === 'UNAVAILABLE' && retry <= 3; retry++) {
    log.warn(`round ${update.round}: ${response.error.message}; sending the update again once joined`);
    if (!(await rejoined(ackSeconds * 1000))) break;
    response = await submit(socket, ackSeconds, update, onPending);
  }
  return response;
}

/**
 * Checks the coordinator's receipt (its signer, this round, this address, this update's commitment) and keeps the
 * contribution until it is paid. A receipt that does not check out is logged: it would prove nothing later.
 */
function keepReceipt(
  session: Session,
  round: number,
  contribution: Pick<UpdatePayload, 'proofs' | 'fractionBits'>,
  receipt: Receipt | undefined,
): void {
  const { settlement, coordinator, receiptChain } = session.settlement!;
  const proofs = (contribution.proofs ?? []).map((proof, k) =>
    solidityChunkProof(proof, contribution.fractionBits[k]!),
  );
  const commitment = updateCommitment(proofs.map((proof) => proof.commitment));
  const expected = { taskKey: taskKey(session.task.id), round, contributor: session.wallet.address, commitment };
  const problem = !receipt
    ? 'no receipt'
    : receiptSigner(receipt).toLowerCase() !== coordinator.toLowerCase()
      ? `signed by ${receiptSigner(receipt)}, not the coordinator ${coordinator}`
      : receipt.taskKey !== expected.taskKey ||
          receipt.round !== round ||
          receipt.contributor.toLowerCase() !== expected.contributor.toLowerCase() ||
          receipt.updateCommitment !== commitment
        ? 'it names another task, round, address or commitment'
        : receipt.chain?.chainId !== receiptChain.chainId ||
            receipt.chain.verifyingContract.toLowerCase() !== receiptChain.verifyingContract.toLowerCase()
          ? "it is not signed for this chain's rewards contract"
          : '';
  if (problem || !receipt) {
    log.error(`round ${round}: the coordinator's receipt is not valid (${problem}); the reward may not be claimable`);
    return;
  }
  settlement.add({ taskId: session.task.id, round, commitment, proofs, receipt });
}

/**
 * Clips and quantizes the update as the task says (each chunk at its own scale, rounding seeded per address and
 * round) and, unless the task takes updates without proofs, proves every chunk with a fresh salt.
 */
async function contribute(
  session: Session,
  start: RoundStartPayload,
  delta: Float32Array,
): Promise<Pick<UpdatePayload, 'q' | 'fractionBits' | 'salt' | 'proofs'>> {
  const { task, wallet, prover, options } = session;
  const emit = (event: ClientEvent): void => options.onEvent?.(event);
  const params = circuitNamed(task.zk.circuit);
  const quantization = quantizationFor(task.numParams, task.spec.clipNorm, params, task.spec.quantization.rounding)!;
  const random = new Random(trainingSeed(wallet.address, start.round) ^ 0x5eed);
  const { q, fractionBits } = quantizeUpdate(delta, quantization, params, () => random.next());
  const values = { q: encodeValues(q, task.numParams, params.valueBits), fractionBits };
  if (!prover) return values;
  const salt = randomSalt();
  const statement = taskStatement(task, start.round, wallet.address, start.modelHash);
  emit({ type: 'proving', round: start.round, done: 0, total: quantization.chunks });
  const started = performance.now();
  let chunkSeconds = 0;
  const proofs = await prover.prove(statement, salt, q, fractionBits, (done, total, timing) => {
    chunkSeconds += (timing.witnessMs + timing.proveMs) / 1000;
    emit({ type: 'proving', round: start.round, done, total });
  });
  const seconds = (performance.now() - started) / 1000;
  emit({ type: 'proved', round: start.round, chunks: proofs.length, seconds, chunkSeconds });
  log.info(`round ${start.round}: proved ${proofs.length} chunk(s)`, { seconds: seconds.toFixed(1) });
  return {
    ...values,
    salt: String(salt),
    proofs: proofs.map(({ proof, publicSignals }) => ({
      proof: { ...proof, protocol: 'groth16' as const, curve: 'bn128' as const },
      publicSignals,
    })),
  };
}

/**
 * Sends an update and waits for the verdict, `timeoutSeconds` at most, counted again whenever the coordinator says
 * the update is pending (its verifiers failed it for now, and it is being verified again). A connection that drops
 * first ends the wait at once: the coordinator drops a disconnected client from the round, and socket.io would
 * otherwise replay the buffered update on reconnection, before the client has joined again.
 */
type UpdateReply = Parameters<Ack<{ receipt?: Receipt }>>[0];

function submit(
  socket: ClientSocket,
  timeoutSeconds: number,
  update: UpdatePayload,
  onPending: (reason: string) => void,
): Promise<UpdateReply> {
  const unavailable = (message: string) => ({ ok: false as const, error: { code: 'UNAVAILABLE' as const, message } });
  if (!socket.connected) return Promise.resolve(unavailable('not connected when the update was ready'));
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const wait = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => done(unavailable(`no answer within ${timeoutSeconds} s`)), timeoutSeconds * 1000);
    };
    const pending = (payload: { taskId: string; round: number; reason: string }): void => {
      if (payload.taskId !== update.taskId || payload.round !== update.round) return;
      onPending(payload.reason);
      wait();
    };
    const done = (reply: UpdateReply): void => {
      clearTimeout(timer);
      socket.off('disconnect', onDisconnect);
      socket.off('update:pending', pending);
      resolve(reply);
    };
    const onDisconnect = (): void => done(unavailable('disconnected before the coordinator answered'));
    socket.once('disconnect', onDisconnect);
    socket.on('update:pending', pending);
    wait();
    socket.emit('update', update, (reply: UpdateReply) => done(reply));
  });
}
