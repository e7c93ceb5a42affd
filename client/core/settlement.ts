/**
 * A data holder's side of on-chain settlement. For every round whose update the coordinator accepted (with a
 * signed receipt): wait until the round's accepted set is on-chain; check that the coordinator's published set has
 * that root and holds this update; then claim its amount once the round's challenge window has passed — every
 * claimable round of the task in one transaction. If the update is missing from the set while the window is open,
 * show the receipt to the contract (claimOmission) and, unless the coordinator shows the leaf in time, collect the
 * compensation its bond owes. If someone challenges this client's leaf, answer with its own chunk proofs.
 * Everything owed is kept (a JSON file beside the key in Node: owed-file.ts; the browser's storage for a page) and
 * retried until done, across restarts and RPC outages. Platform-neutral.
 */
import { taskKey } from '../../circuits/statement.js';
import { createLogger } from '../../common/log.js';
import { acceptedLeaf, acceptedRoot, type OnchainLeaf } from '../../contracts/accepted-set.js';
import type { Deployment } from '../../contracts/deployment.js';
import { escrowMismatch } from '../../contracts/escrow.js';
import { revertName, RewardsContract, TokenContract } from '../../contracts/rewards.js';
import type { AcceptedSetView, TaskView } from '../../protocol/rest.js';
import { ZkflError } from '../../common/errors.js';
import type { HolderSigner, OwedContribution, Settling } from './settling.js';

const log = createLogger('client');

/** Where the owed contributions are kept between runs. */
export interface OwedStore {
  load(): OwedContribution[];
  save(entries: readonly OwedContribution[]): void;
  /** Where they are, for a message. */
  readonly where: string;
}

export interface SettlementContext {
  store: OwedStore;
  wallet: HolderSigner;
  /** Where the rewards contract and its token are. */
  deployment: Pick<Deployment, 'rewards' | 'token'>;
  /** Fetches a round's accepted set from the coordinator. */
  acceptedSet: (taskId: string, round: number) => Promise<AcceptedSetView>;
  /** Milliseconds between checks while nothing can be done yet, and the first retry delay. */
  pollMs: number;
}

const pending = new Set<OwedContribution['state']>(['owed', 'listed', 'omitted']);

export class ClientSettlement implements Settling {
  private readonly rewards: RewardsContract;
  private entries: OwedContribution[];
  /** One settlement pass at a time: a later call waits for the running one, then makes its own. */
  private inFlight: Promise<void> | undefined;

  constructor(private readonly ctx: SettlementContext) {
    this.rewards = new RewardsContract(ctx.deployment.rewards, ctx.wallet);
    this.entries = ctx.store.load();
  }

  /** Lets go of the chain connection, once any settlement pass in flight has ended. */
  async close(): Promise<void> {
    await this.inFlight;
    this.ctx.wallet.provider?.destroy();
  }

  /** Keeps an accepted contribution until it is paid. */
  add(entry: Pick<OwedContribution, 'taskId' | 'round' | 'commitment' | 'proofs' | 'receipt'>): void {
    if (this.entries.some((e) => e.taskId === entry.taskId && e.round === entry.round)) return;
    this.entries.push({ ...entry, state: 'owed' });
    this.save();
  }

  /** What is still to be settled for the task. */
  owed(taskId: string): OwedContribution[] {
    return this.entries.filter((entry) => entry.taskId === taskId && pending.has(entry.state));
  }

  all(taskId: string): OwedContribution[] {
    return this.entries.filter((entry) => entry.taskId === taskId);
  }

  /** Why the task's on-chain escrow cannot pay this client's work ('' when it can); see escrowMismatch. */
  async escrowProblem(task: TaskView, coordinator: string, verifier: string | undefined): Promise<string> {
    return escrowMismatch(await this.rewards.task(taskKey(task.id)), task, coordinator, verifier);
  }

  /**
   * Locks the task's stake (`rewards.stake`) for this client unless it asks none or it is locked already: approves
   * the token, then stakes. Once the task's escrow exists; the coordinator takes updates only from staked addresses.
   */
  async lockStake(task: TaskView): Promise<void> {
    const stake = BigInt(task.spec.rewards.stake ?? '0');
    const key = taskKey(task.id);
    if (stake === 0n || (await this.rewards.stakeOf(key, this.ctx.wallet.address)) >= stake) return;
    const token = new TokenContract((await this.rewards.task(key))!.token, this.ctx.wallet);
    const held = await token.balanceOf(this.ctx.wallet.address);
    if (held < stake) {
      throw new ZkflError(
        'STAKE_REQUIRED',
        `task ${task.id} asks a stake of ${stake} token base units and ${this.ctx.wallet.address} holds ${held} of token ${await token.contract.getAddress()}: fund it, then start again`,
      );
    }
    await (await token.approve(this.ctx.deployment.rewards, stake)).wait();
    await (await this.rewards.stake(key)).wait();
    log.info(`locked the task's stake of ${stake} token base units`, { task: task.id });
  }

  /** Takes this client's stake in the task back, when it holds one and no leaf can be challenged any more. */
  async releaseStake(taskId: string): Promise<void> {
    const key = taskKey(taskId);
    const locked = await this.rewards.stakeOf(key, this.ctx.wallet.address);
    if (locked === 0n) return;
    try {
      await (await this.rewards.unstake(key)).wait();
      log.info(`took back the task's stake of ${locked} token base units`, { task: taskId });
    } catch (error) {
      const reason = revertName(error) ?? (error as Error).message;
      log.warn(`the stake of ${locked} stays locked for now (${reason}): run the client for this task again later`);
    }
  }

  /**
   * Settles what is owed for the task until nothing is, or `deadline` (epoch ms) passes. Without `claim` it only
   * finds each closed round's leaf, or claims its omission while that is still possible, and leaves the leaves
   * listed: a client claims them all in one transaction when the task ends.
   */
  async settle(taskId: string, deadline: number, claim = true): Promise<void> {
    while (this.inFlight) await this.inFlight;
    this.inFlight = this.settlePass(taskId, deadline, claim).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async settlePass(taskId: string, deadline: number, claim: boolean): Promise<void> {
    let delay = this.ctx.pollMs;
    const unsettled = (): OwedContribution[] => this.owed(taskId).filter((entry) => claim || entry.state !== 'listed');
    while (unsettled().length > 0 && Date.now() < deadline) {
      let progressed = false;
      try {
        // The next block's time: a local chain mines only on demand, so its latest block can lag the clock.
        const latest = (await this.ctx.wallet.provider!.getBlock('latest'))!.timestamp;
        const now = Math.max(latest, Math.floor(Date.now() / 1000));
        for (const entry of unsettled()) progressed = (await this.step(entry, now)) || progressed;
        if (claim) progressed = (await this.claimListed(taskId, now, deadline)) || progressed;
        delay = this.ctx.pollMs;
      } catch (error) {
        log.warn('settlement failed, retrying', { error: (error as Error).message });
        delay = Math.min(delay * 2, 30_000);
      }
      if (!progressed) await new Promise((resolve) => setTimeout(resolve, delay));
    }
    const left = unsettled().length;
    if (left > 0) log.warn(`${left} contribution(s) not yet settled; they are kept in ${this.ctx.store.where}`);
  }

  /** One step for one entry at chain time `now`; false when it must wait. */
  private async step(entry: OwedContribution, now: number): Promise<boolean> {
    const key = taskKey(entry.taskId);
    switch (entry.state) {
      case 'owed':
        return this.findLeaf(entry, now);
      case 'listed': {
        // Someone challenged our leaf: our own proofs answer it, whatever the coordinator does.
        const { challenge } = await this.rewards.leafStatus(key, entry.round, entry.leaf!.index);
        if (challenge === 'open') {
          await (await this.rewards.answerChallenge(key, entry.round, this.leafOf(entry), entry.proofs)).wait();
          log.info(`round ${entry.round}: answered a challenge to this client's leaf`);
          return true;
        }
        if (challenge === 'voided') return this.lose(entry, 'the leaf was voided after an unanswered challenge');
        return false;
      }
      case 'omitted': {
        const state = await this.rewards.omission(key, entry.round, this.ctx.wallet.address);
        if (state === 'answered') {
          // The coordinator showed our leaf after all: claim it like any other.
          entry.state = 'owed';
          this.save();
          return true;
        }
        if (now <= entry.answerBy!) return false;
        const before = await this.balance();
        if (state === 'open')
          await (await this.rewards.resolveOmission(key, entry.round, this.ctx.wallet.address)).wait();
        entry.state = 'compensated';
        entry.reward = String((await this.balance()) - before);
        log.info(`round ${entry.round}: the coordinator's bond paid ${entry.reward} for the omitted update`);
        this.save();
        return true;
      }
      default:
        return false;
    }
  }

  /** Once the round is closed on-chain: its leaf (listed) or, in the window, an omission claim (omitted). */
  private async findLeaf(entry: OwedContribution, now: number): Promise<boolean> {
    const key = taskKey(entry.taskId);
    const round = await this.rewards.round(key, entry.round);
    if (!round.closed) return false;
    const set = await this.ctx.acceptedSet(entry.taskId, entry.round);
    const rootMatches = acceptedRoot(set.entries) === round.acceptedRoot;
    const found = rootMatches ? acceptedLeaf(set.entries, this.ctx.wallet.address) : undefined;
    if (found && found.leaf.updateCommitment === entry.commitment) {
      entry.state = 'listed';
      entry.leaf = { index: found.leaf.index, amount: String(found.leaf.amount), proof: found.proof };
      entry.claimableAt = round.claimableAt;
      this.save();
      return true;
    }
    const problem = rootMatches
      ? 'the accepted update is not in the posted set'
      : `the coordinator's accepted set does not hash to the on-chain root ${round.acceptedRoot}`;
    if (now >= round.claimableAt) return this.lose(entry, `${problem}, and the round's challenge window has passed`);
    log.error(`round ${entry.round}: ${problem}; showing the coordinator's signed receipt to the contract`);
    await (await this.rewards.claimOmission(key, entry.round, entry.commitment, entry.receipt.signature)).wait();
    const onchain = await this.rewards.task(key);
    entry.state = 'omitted';
    entry.answerBy = (await this.ctx.wallet.provider!.getBlock('latest'))!.timestamp + onchain!.answerWindow;
    entry.problem = problem;
    this.save();
    return true;
  }

  /**
   * Claims the task's listed leaves in one transaction: once every round still being settled is listed and past its
   * window (so one call takes them all), or, with `deadline` (epoch ms) near, whatever is ready by then.
   */
  private async claimListed(taskId: string, now: number, deadline: number): Promise<boolean> {
    const unsettled = this.owed(taskId);
    const ready = unsettled.filter((entry) => entry.state === 'listed' && now >= entry.claimableAt!);
    const hurry = Date.now() > deadline - 15_000;
    if (ready.length === 0 || (ready.length < unsettled.length && !hurry)) return false;
    const paying = ready.filter((entry) => BigInt(entry.leaf!.amount) > 0n);
    if (paying.length > 0) {
      const claims = paying.map((entry) => ({
        round: entry.round,
        index: entry.leaf!.index,
        amount: BigInt(entry.leaf!.amount),
        updateCommitment: entry.commitment,
        proof: entry.leaf!.proof,
      }));
      await (await this.rewards.claim(taskKey(taskId), claims)).wait();
    }
    for (const entry of ready) {
      entry.state = 'claimed';
      entry.reward = entry.leaf!.amount;
    }
    const total = ready.reduce((sum, entry) => sum + BigInt(entry.reward!), 0n);
    log.info(`claimed ${total} token units for round(s) ${ready.map((entry) => entry.round).join(', ')}`);
    this.save();
    return true;
  }

  private leafOf(entry: OwedContribution): OnchainLeaf {
    return {
      index: entry.leaf!.index,
      contributor: this.ctx.wallet.address,
      amount: BigInt(entry.leaf!.amount),
      updateCommitment: entry.commitment,
    };
  }

  private balance(): Promise<bigint> {
    return new TokenContract(this.ctx.deployment.token, this.ctx.wallet).balanceOf(this.ctx.wallet.address);
  }

  private lose(entry: OwedContribution, problem: string): boolean {
    entry.state = 'lost';
    entry.problem = problem;
    log.error(`round ${entry.round}: ${problem}`, { receipt: JSON.stringify(entry.receipt) });
    this.save();
    return true;
  }

  private save(): void {
    this.ctx.store.save(this.entries);
  }
}
