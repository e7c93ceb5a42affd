/**
 * On-chain settlement of a coordinator's tasks. For every task created with `onchain`, it waits for the model
 * owner's escrow before round 1 and posts the coordinator's bond, then owes the chain two transactions per round:
 * openRound(H_r) when the round opens and closeRound(accepted root, count, total) when it closes, the root over
 * (index, contributor, amount, commitment) leaves. It also watches the rewards contract for challenges to its leaves
 * and omission claims against its rounds, and answers each: the challenged leaf's chunk proofs (which it verified
 * when it accepted the update), or the leaf an omission claim says is missing. All of it is derived from durable
 * records (round records, stored proofs, contract events), so a crash loses nothing, persisted as chain actions,
 * and sent one at a time in order. Each is signed once and its raw bytes stored before broadcast: a retry re-sends the same
 * transaction (same nonce, executed at most once), and before anything is sent the chain is read to see whether
 * the action already took effect. An RPC outage only delays settlement; a restart picks up where it stopped. An
 * action the contract refuses outright is marked failed and logged, so it does not hold up the others.
 */
import { type EventLog, type Provider, Transaction, type TransactionRequest, type Wallet } from 'ethers';
import { taskKey } from '../../circuits/statement.js';
import { createLogger } from '../../common/log.js';
import {
  acceptedLeaf,
  acceptedLeafAt,
  acceptedRoot,
  acceptedTotal,
  committedEntries,
  solidityChunkProof,
} from '../../contracts/accepted-set.js';
import type { Deployment } from '../../contracts/deployment.js';
import { escrowMismatch } from '../../contracts/escrow.js';
import { RewardsContract, revertName, TokenContract } from '../../contracts/rewards.js';
import type { ChainEventView, TaskView } from '../../protocol/rest.js';
import { ZkflError } from '../../common/errors.js';
import type { Storage } from '../state/storage.js';
import type { ChainAction } from '../state/chain-action-table.js';

const log = createLogger('settlement');

export interface SettlementOptions {
  /** Milliseconds between checks for a task's escrow, and the first retry delay after an error. @default 1000 */
  pollMs: number;
  /** Longest delay between retries while the chain cannot be reached. @default 30000 */
  maxRetryMs: number;
  /** How long to wait for a sent transaction's receipt before checking again. @default 60000 */
  receiptTimeoutMs: number;
  /** Milliseconds between reads of the contract's challenges and omission claims. @default 2000 */
  disputePollMs: number;
}

export const defaultSettlementOptions: SettlementOptions = {
  pollMs: 1000,
  maxRetryMs: 30_000,
  receiptTimeoutMs: 60_000,
  disputePollMs: 2000,
};

export class Settlement {
  private readonly rewards: RewardsContract;
  private readonly provider: Provider;
  private running: Promise<void> | undefined;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private closed = false;
  private readonly disputeTimer: NodeJS.Timeout;
  /** Per task: the contract's events read so far, and the first block not yet read. */
  private readonly observed = new Map<string, { events: ChainEventView[]; fromBlock: number }>();

  constructor(
    private readonly storage: Storage,
    private readonly wallet: Wallet,
    readonly deployment: Deployment,
    private readonly options: SettlementOptions = defaultSettlementOptions,
    /** Whether this process may send transactions now (instances sharing a database take turns). */
    private readonly maySend: () => boolean = () => true,
  ) {
    this.rewards = new RewardsContract(deployment.rewards, wallet);
    this.provider = wallet.provider!;
    this.retryMs = options.pollMs;
    this.disputeTimer = setInterval(() => {
      this.storage.tasks
        .list()
        .then((tasks) => this.watchChain(tasks))
        .catch((error: unknown) => log.warn('cannot read the chain', { error: (error as Error).message }));
    }, options.disputePollMs);
  }

  get address(): string {
    return this.wallet.address;
  }

  /**
   * Resolves once the task's reward pool is escrowed on-chain with this coordinator and the task's circuit,
   * chunks, bound and rounds; rejects if an escrow exists that can never settle this task.
   */
  /** Throws STAKE_REQUIRED unless `address` holds the task's stake (if it asks for one) locked in the escrow. */
  async checkStake(task: TaskView, address: string): Promise<void> {
    const stake = BigInt(task.spec.rewards.stake ?? '0');
    if (stake === 0n) return;
    const key = taskKey(task.id);
    const locked = await this.rewards.stakeOf(key, address).catch(() => {
      throw new ZkflError('UNAVAILABLE', 'the chain cannot be reached to check the stake: send the update again');
    });
    if (locked >= stake) return;
    throw new ZkflError(
      'STAKE_REQUIRED',
      `task ${task.id} takes updates only from addresses with its stake of ${stake} token base units locked: approve the token, then call stake(${key}) on ${this.deployment.rewards} (zkfl client does both when started with --rpc)`,
    );
  }

  /**
   * The time the contract's deadlines are measured by (unix seconds): the next block's, its latest block's or the
   * clock's, whichever is later; the clock's while the chain cannot be reached.
   */
  async chainTime(): Promise<number> {
    const latest = await this.provider.getBlock('latest').catch(() => null);
    return Math.max(latest?.timestamp ?? 0, Math.floor(Date.now() / 1000));
  }

  async whenEscrowed(task: TaskView, stopped: () => boolean): Promise<void> {
    let waiting = false;
    for (;;) {
      if (stopped()) return;
      try {
        const onchain = await this.rewards.task(taskKey(task.id));
        if (onchain) {
          const problem = escrowMismatch(
            onchain,
            task,
            this.address,
            this.deployment.verifiers[task.zk.circuit]?.address,
          );
          if (problem) throw new EscrowMismatch(`task ${task.id}'s on-chain escrow cannot settle it: ${problem}`);
          log.info('reward pool escrowed', { task: task.id, rewardPerRound: String(onchain.rewardPerRound) });
          return;
        }
        if (!waiting) log.info('waiting for the model owner to escrow the reward pool', { task: task.id });
        waiting = true;
      } catch (error) {
        if (error instanceof EscrowMismatch) throw error;
        log.warn('cannot read the escrow yet', { task: task.id, error: (error as Error).message });
      }
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs));
    }
  }

  /** Derives what the chain is owed from the task's round records, and starts sending it. */
  async sync(task: TaskView): Promise<void> {
    if (!task.spec.onchain) return;
    for (const round of await this.storage.rounds.list(task.id)) {
      if (round.attempts === 0) continue;
      const base = { taskId: task.id, round: round.round };
      // A round opens only with the bond whole: posted before round 1, topped up after a dispute was paid from it.
      await this.storage.chainActions.add({ ...base, kind: 'bond', args: [] });
      await this.storage.chainActions.add({ ...base, kind: 'open', args: ['0x' + round.modelHashBefore] });
      if (round.phase !== 'evaluated') continue;
      const entries = committedEntries(round.participants);
      await this.storage.chainActions.add({
        ...base,
        kind: 'close',
        args: [acceptedRoot(entries), entries.length, String(acceptedTotal(entries))],
      });
    }
    this.kick();
  }

  /** What the chain recorded about the task so far (read every `disputePollMs`), oldest first. */
  eventsOf(taskId: string): ChainEventView[] {
    return this.observed.get(taskId)?.events ?? [];
  }

  /**
   * Reads the contract's new events about `tasks`: kept for the views, and each challenge or omission claim still
   * open gets an answer queued (the stored proofs of a challenged leaf; the leaf an omission claim names). Runs on
   * a timer; idempotent (an answer is queued once, whatever reads it twice).
   */
  private async watchChain(tasks: TaskView[]): Promise<void> {
    const toBlock = await this.provider.getBlockNumber();
    for (const task of tasks.filter((candidate) => candidate.spec.onchain)) {
      const key = taskKey(task.id);
      const seen = this.observed.get(task.id) ?? { events: [], fromBlock: 0 };
      if (seen.fromBlock > toBlock) continue;
      const fresh: ChainEventView[] = [];
      for (const event of await this.rewards.taskEvents(key, seen.fromBlock, toBlock)) {
        const view = chainEventView(event);
        if (view) fresh.push(view);
        const round = Number(event.args[1]);
        if (event.eventName === 'LeafChallenged') {
          const index = Number(event.args[2]);
          if ((await this.rewards.leafStatus(key, round, index)).challenge === 'open') {
            await this.storage.chainActions.add({
              taskId: task.id,
              round,
              kind: 'answer',
              subject: String(index),
              args: [],
            });
          }
        } else if (event.eventName === 'OmissionClaimed') {
          const contributor = event.args[2] as string;
          if ((await this.rewards.omission(key, round, contributor)) === 'open') {
            await this.storage.chainActions.add({
              taskId: task.id,
              round,
              kind: 'show',
              subject: contributor,
              args: [],
            });
          }
        }
      }
      this.observed.set(task.id, { events: [...seen.events, ...fresh], fromBlock: toBlock + 1 });
    }
    this.kick();
  }

  /** Sends pending actions in order until none is left or the chain cannot be reached. */
  private kick(): void {
    if (this.closed || !this.maySend()) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.retryTimer);
    this.running = this.drain()
      .then(() => {
        this.retryMs = this.options.pollMs;
      })
      .catch((error: unknown) => {
        log.warn(`settlement paused, retrying in ${this.retryMs / 1000} s`, { error: (error as Error).message });
        this.retryTimer = setTimeout(() => this.kick(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, this.options.maxRetryMs);
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async drain(): Promise<void> {
    for (let action = await this.next(); action && !this.closed; action = await this.next()) {
      await this.storage.chainActions.update(action, { attempts: action.attempts + 1 });
      try {
        await this.settle(action);
      } catch (error) {
        await this.storage.chainActions.update(action, { lastError: (error as Error).message });
        if (!(error instanceof ContractRefusal)) throw error;
        if (await this.tookEffect(taskKey(action.taskId), action)) {
          // Someone else did it first (a contributor answering a challenge to its own leaf, say).
          await this.storage.chainActions.update(action, { status: 'done', lastError: null });
          continue;
        }
        // Retrying cannot help (the task's deadline passed, say): set it aside for the operator, go on.
        await this.storage.chainActions.update(action, { status: 'failed' });
        log.error(`round ${action.round} ${action.kind} cannot be settled`, {
          task: action.taskId,
          error: error.message,
        });
        continue;
      }
      await this.storage.chainActions.update(action, { status: 'done', lastError: null });
      log.info(`round ${action.round}: ${action.kind} ${action.subject} done on-chain`, {
        task: action.taskId,
        tx: action.txHash ?? 'already done',
      });
    }
  }

  private async next(): Promise<ChainAction | undefined> {
    return (await this.storage.chainActions.pending())[0];
  }

  /** Makes one action take effect on-chain, exactly once. */
  private async settle(action: ChainAction): Promise<void> {
    const key = taskKey(action.taskId);
    if (await this.tookEffect(key, action)) return;
    if (action.rawTx && action.txHash) {
      // Sent before (maybe before a restart): re-send the same bytes and wait for them.
      await this.provider.broadcastTransaction(action.rawTx).catch((error: unknown) => {
        log.debug('re-broadcast refused (already known or mined)', { error: (error as Error).message });
      });
      const receipt = await this.provider.waitForTransaction(action.txHash, 1, this.options.receiptTimeoutMs);
      if (receipt?.status === 1 || (await this.tookEffect(key, action))) return;
      if (receipt) throw new Error(`transaction ${action.txHash} reverted`);
      // Never mined and its nonce maybe taken: sign afresh next time.
      await this.storage.chainActions.update(action, { rawTx: null, txHash: null });
      throw new Error(`transaction ${action.txHash} was not mined in time`);
    }
    let signed: string;
    try {
      const call = await this.call(key, action);
      if (!call) {
        // Nothing of ours can answer it (an omission claim for an update this coordinator never accepted).
        throw new ContractRefusal(`round ${action.round}: nothing to show for ${action.kind} ${action.subject}`);
      }
      signed = await this.wallet.signTransaction(await this.wallet.populateTransaction(call));
    } catch (error) {
      const reason = revertName(error);
      throw reason
        ? new ContractRefusal(`the contract refuses ${action.kind} of round ${action.round}: ${reason}`)
        : error;
    }
    const txHash = Transaction.from(signed).hash!;
    await this.storage.chainActions.update(action, { rawTx: signed, txHash });
    Object.assign(action, { rawTx: signed, txHash });
    await this.provider.broadcastTransaction(signed);
    const receipt = await this.provider.waitForTransaction(txHash, 1, this.options.receiptTimeoutMs);
    if (receipt?.status !== 1) throw new Error(`transaction ${txHash} ${receipt ? 'reverted' : 'not mined in time'}`);
  }

  /** The transaction an action sends, built from the contract's state and this coordinator's records. */
  private async call(key: string, action: ChainAction): Promise<TransactionRequest | undefined> {
    const { taskId, round } = action;
    switch (action.kind) {
      case 'bond': {
        const onchain = (await this.rewards.task(key))!;
        const missing = onchain.coordinatorBond - onchain.bond;
        // Approving is idempotent (it sets the allowance), so it need not be signed once and kept.
        const token = new TokenContract(this.deployment.token, this.wallet);
        await (await token.approve(this.deployment.rewards, missing)).wait();
        return this.rewards.populate('postBond', key, missing);
      }
      case 'open':
        return this.rewards.populate('openRound', key, round, action.args[0]);
      case 'close':
        return this.rewards.populate('closeRound', key, round, ...action.args);
      case 'answer': {
        const entries = committedEntries((await this.storage.rounds.get(taskId, round))?.participants ?? []);
        const updates = await this.storage.updates.audited(taskId, round, false);
        const leaf = entries.length ? acceptedLeafAt(entries, Number(action.subject)) : undefined;
        const update = leaf && updates.find((candidate) => candidate.address === leaf.leaf.contributor);
        if (!leaf || !update) return undefined;
        const proofs = update.proofs.map((proof, k) => solidityChunkProof(proof, update.fractionBits[k]!));
        return this.rewards.populate('answerChallenge', key, round, leaf.leaf, proofs);
      }
      case 'show': {
        const entries = committedEntries((await this.storage.rounds.get(taskId, round))?.participants ?? []);
        const leaf = acceptedLeaf(entries, action.subject);
        if (!leaf) return undefined;
        return this.rewards.populate('showLeaf', key, round, leaf.leaf, leaf.proof);
      }
    }
  }

  private async tookEffect(key: string, action: ChainAction): Promise<boolean> {
    const onchain = await this.rewards.task(key);
    if (!onchain) return false;
    switch (action.kind) {
      case 'bond':
        return onchain.bond >= onchain.coordinatorBond;
      case 'open':
        return onchain.roundsOpened >= action.round;
      case 'close':
        return (await this.rewards.round(key, action.round)).closed;
      case 'answer':
        return (await this.rewards.leafStatus(key, action.round, Number(action.subject))).challenge !== 'open';
      case 'show':
        return (await this.rewards.omission(key, action.round, action.subject)) !== 'open';
    }
  }

  /** Waits for the settlement in flight (not for retries) and stops. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.disputeTimer);
    await this.running;
    // Its connections to the chain too: a closed coordinator holds nothing open.
    this.provider.destroy();
  }

  /** Pending actions, for status views and tests. */
  pending(): Promise<ChainAction[]> {
    return this.storage.chainActions.pending();
  }
}

class EscrowMismatch extends Error {}

/** The contract itself refuses the transaction: sending it again cannot succeed. */
class ContractRefusal extends Error {}

/** An event of the contract as the views show it; undefined for the coordinator's own (bond, open, close). */
function chainEventView(event: EventLog): ChainEventView | undefined {
  const args = event.args;
  const at = { txHash: event.transactionHash, block: event.blockNumber };
  const inRound = (kind: ChainEventView['kind'], subject: string, amount: bigint | null = null): ChainEventView => ({
    ...at,
    round: Number(args[1]),
    kind,
    subject,
    amount: amount === null ? null : String(amount),
  });
  switch (event.eventName) {
    case 'TaskCreated':
      return { ...at, round: null, kind: 'escrowed', subject: args[1] as string, amount: String(args[3]) };
    case 'Reclaimed':
      return { ...at, round: null, kind: 'reclaimed', subject: args[1] as string, amount: String(args[2]) };
    case 'LeafChallenged':
      return inRound('challenged', `leaf ${args[2]} by ${args[3]}`);
    case 'ChallengeAnswered':
      return inRound('answered', `leaf ${args[2]} by ${args[3]}`);
    case 'LeafVoided':
      return inRound('voided', `leaf ${args[2]}`, args[4] as bigint);
    case 'OmissionClaimed':
      return inRound('omission claimed', args[2] as string);
    case 'OmissionDismissed':
      return inRound('omission dismissed', args[2] as string);
    case 'OmissionCompensated':
      return inRound('omission compensated', args[2] as string, args[3] as bigint);
    case 'RewardClaimed':
      return inRound('claimed', args[2] as string, args[3] as bigint);
    default:
      return undefined;
  }
}
