/**
 * On-chain settlement of a coordinator's tasks. For every task created with `onchain`, it waits for the model
 * owner's escrow before round 1, then owes the chain two transactions per round: openRound(H_r) when the round
 * opens and closeRound(accepted root, count) when it closes. Those are derived from the durable round records
 * (so a crash between a round's end and its enqueueing loses nothing), persisted as chain actions, and sent one at
 * a time in order. Each is signed once and its raw bytes stored before broadcast: a retry re-sends the same
 * transaction (same nonce, executed at most once), and before anything is sent the chain is read to see whether
 * the action already took effect. An RPC outage only delays settlement; a restart picks up where it stopped. An
 * action the contract refuses outright is marked failed and logged, so it does not hold up the others.
 */
import { type Provider, Transaction, type Wallet } from 'ethers';
import { taskKey } from '../circuits/statement.js';
import { createLogger } from '../common/log.js';
import { committedRoot } from '../contracts/accepted-set.js';
import type { Deployment } from '../contracts/deployment.js';
import { escrowMismatch } from '../contracts/escrow.js';
import { RewardsContract, revertName } from '../contracts/rewards.js';
import type { TaskView } from '../protocol/rest.js';
import type { ChainAction, Storage } from './storage.js';

const log = createLogger('settlement');

export interface SettlementOptions {
  /** Milliseconds between checks for a task's escrow, and the first retry delay after an error. @default 1000 */
  pollMs: number;
  /** Longest delay between retries while the chain cannot be reached. @default 30000 */
  maxRetryMs: number;
  /** How long to wait for a sent transaction's receipt before checking again. @default 60000 */
  receiptTimeoutMs: number;
}

export const defaultSettlementOptions: SettlementOptions = {
  pollMs: 1000,
  maxRetryMs: 30_000,
  receiptTimeoutMs: 60_000,
};

export class Settlement {
  private readonly rewards: RewardsContract;
  private readonly provider: Provider;
  private running: Promise<void> | undefined;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private closed = false;

  constructor(
    private readonly storage: Storage,
    private readonly wallet: Wallet,
    readonly deployment: Deployment,
    private readonly options: SettlementOptions = defaultSettlementOptions,
  ) {
    this.rewards = new RewardsContract(deployment.rewards, wallet);
    this.provider = wallet.provider!;
    this.retryMs = options.pollMs;
  }

  get address(): string {
    return this.wallet.address;
  }

  /**
   * Resolves once the task's reward pool is escrowed on-chain with this coordinator and the task's circuit,
   * chunks, bound and rounds; rejects if an escrow exists that can never settle this task.
   */
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
  sync(task: TaskView): void {
    if (!task.spec.onchain) return;
    for (const round of this.storage.listRounds(task.id)) {
      if (round.attempts === 0) continue;
      this.storage.addChainAction(task.id, round.round, 'open', ['0x' + round.modelHashBefore]);
      if (round.phase !== 'evaluated') continue;
      this.storage.addChainAction(task.id, round.round, 'close', [
        committedRoot(round.participants),
        round.participants.length,
      ]);
    }
    this.kick();
  }

  /** Sends pending actions in order until none is left or the chain cannot be reached. */
  private kick(): void {
    if (this.closed) return;
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
    for (let action = this.next(); action && !this.closed; action = this.next()) {
      this.storage.updateChainAction(action, { attempts: action.attempts + 1 });
      try {
        await this.settle(action);
      } catch (error) {
        this.storage.updateChainAction(action, { lastError: (error as Error).message });
        if (!(error instanceof ContractRefusal)) throw error;
        // Retrying cannot help (the task's deadline passed, say): set it aside for the operator, go on.
        this.storage.updateChainAction(action, { status: 'failed' });
        log.error(`round ${action.round} ${action.kind} cannot be settled`, {
          task: action.taskId,
          error: error.message,
        });
        continue;
      }
      this.storage.updateChainAction(action, { status: 'done', lastError: null });
      log.info(`round ${action.round} ${action.kind === 'open' ? 'opened' : 'closed'} on-chain`, {
        task: action.taskId,
        tx: action.txHash ?? 'already done',
      });
    }
  }

  private next(): ChainAction | undefined {
    return this.storage.pendingChainActions()[0];
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
      this.storage.updateChainAction(action, { rawTx: null, txHash: null });
      throw new Error(`transaction ${action.txHash} was not mined in time`);
    }
    const call =
      action.kind === 'open'
        ? this.rewards.populate('openRound', key, action.round, action.args[0])
        : this.rewards.populate('closeRound', key, action.round, action.args[0], action.args[1]);
    let signed: string;
    try {
      signed = await this.wallet.signTransaction(await this.wallet.populateTransaction(await call));
    } catch (error) {
      const reason = revertName(error);
      throw reason
        ? new ContractRefusal(`the contract refuses ${action.kind} of round ${action.round}: ${reason}`)
        : error;
    }
    const txHash = Transaction.from(signed).hash!;
    this.storage.updateChainAction(action, { rawTx: signed, txHash });
    Object.assign(action, { rawTx: signed, txHash });
    await this.provider.broadcastTransaction(signed);
    const receipt = await this.provider.waitForTransaction(txHash, 1, this.options.receiptTimeoutMs);
    if (receipt?.status !== 1) throw new Error(`transaction ${txHash} ${receipt ? 'reverted' : 'not mined in time'}`);
  }

  private async tookEffect(key: string, action: ChainAction): Promise<boolean> {
    const onchain = await this.rewards.task(key);
    if (!onchain) return false;
    if (action.kind === 'open') return onchain.roundsOpened >= action.round;
    return (await this.rewards.round(key, action.round)).closed;
  }

  /** Waits for the settlement in flight (not for retries) and stops. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.running;
  }

  /** Pending actions, for status views and tests. */
  pending(): ChainAction[] {
    return this.storage.pendingChainActions();
  }
}

class EscrowMismatch extends Error {}

/** The contract itself refuses the transaction: sending it again cannot succeed. */
class ContractRefusal extends Error {}
