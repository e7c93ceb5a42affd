/**
 * A data holder's side of on-chain settlement: for every round whose update the coordinator accepted (with a
 * signed receipt), wait until the round's accepted set is on-chain, check that the coordinator's published set has
 * that root and holds this update, submit the contribution with its proofs and Merkle proof, and claim the share.
 * Everything owed is kept in a JSON file beside the key and retried until done, across restarts and RPC outages.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Wallet } from 'ethers';
import { taskKey } from '../circuits/statement.js';
import { createLogger } from '../common/log.js';
import { acceptedProof, acceptedRoot, type SolidityChunkProof } from '../contracts/accepted-set.js';
import type { Deployment } from '../contracts/deployment.js';
import { escrowMismatch } from '../contracts/escrow.js';
import { RewardsContract } from '../contracts/rewards.js';
import type { Receipt } from '../protocol/receipt.js';
import type { AcceptedSetView, TaskView } from '../protocol/rest.js';

const log = createLogger('client');

export interface OwedContribution {
  taskId: string;
  round: number;
  /** keccak256 of the chunk commitments. */
  commitment: string;
  proofs: SolidityChunkProof[];
  receipt: Receipt;
  /** claimed: paid; omitted: the coordinator left it out of the posted set (the receipt proves it was accepted). */
  state: 'owed' | 'claimed' | 'omitted';
  /** Token base units paid, once claimed. */
  reward?: string;
  problem?: string;
}

export interface SettlementContext {
  /** Where the owed contributions are kept. */
  file: string;
  wallet: Wallet;
  deployment: Deployment;
  /** Fetches a round's accepted set from the coordinator. */
  acceptedSet: (taskId: string, round: number) => Promise<AcceptedSetView>;
  /** Milliseconds between checks while a round is not yet closed on-chain, and the first retry delay. */
  pollMs: number;
}

export class ClientSettlement {
  private readonly rewards: RewardsContract;
  private entries: OwedContribution[];
  /** One settlement pass at a time: a later call waits for the running one, then makes its own. */
  private inFlight: Promise<void> | undefined;

  constructor(private readonly ctx: SettlementContext) {
    this.rewards = new RewardsContract(ctx.deployment.rewards, ctx.wallet);
    this.entries = existsSync(ctx.file) ? (JSON.parse(readFileSync(ctx.file, 'utf8')) as OwedContribution[]) : [];
  }

  /** Keeps an accepted contribution until it is paid. */
  add(entry: Omit<OwedContribution, 'state'>): void {
    if (this.entries.some((e) => e.taskId === entry.taskId && e.round === entry.round)) return;
    this.entries.push({ ...entry, state: 'owed' });
    this.save();
  }

  owed(taskId: string): OwedContribution[] {
    return this.entries.filter((entry) => entry.taskId === taskId && entry.state === 'owed');
  }

  all(taskId: string): OwedContribution[] {
    return this.entries.filter((entry) => entry.taskId === taskId);
  }

  /** Why the task's on-chain escrow cannot pay this client's work ('' when it can); see escrowMismatch. */
  async escrowProblem(task: TaskView, coordinator: string, verifier: string | undefined): Promise<string> {
    return escrowMismatch(await this.rewards.task(taskKey(task.id)), task, coordinator, verifier);
  }

  /** Settles what is owed for the task until nothing is, or `deadline` (epoch ms) passes. */
  async settle(taskId: string, deadline: number): Promise<void> {
    while (this.inFlight) await this.inFlight;
    this.inFlight = this.settlePass(taskId, deadline).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async settlePass(taskId: string, deadline: number): Promise<void> {
    let delay = this.ctx.pollMs;
    while (this.owed(taskId).length > 0 && Date.now() < deadline) {
      let progressed = false;
      for (const entry of this.owed(taskId)) {
        try {
          progressed = (await this.settleOne(entry)) || progressed;
          delay = this.ctx.pollMs;
        } catch (error) {
          log.warn(`round ${entry.round}: settlement failed, retrying`, { error: (error as Error).message });
          delay = Math.min(delay * 2, 30_000);
        }
      }
      if (!progressed) await new Promise((resolve) => setTimeout(resolve, delay));
    }
    const left = this.owed(taskId).length;
    if (left > 0) log.warn(`${left} contribution(s) not yet settled; they are kept in ${this.ctx.file}`);
  }

  /** One step for one entry; false when it must wait for the round to close on-chain. */
  private async settleOne(entry: OwedContribution): Promise<boolean> {
    const key = taskKey(entry.taskId);
    const round = await this.rewards.round(key, entry.round);
    if (!round.closed) return false;
    const set = await this.ctx.acceptedSet(entry.taskId, entry.round);
    const me = this.ctx.wallet.address;
    const rootMatches = acceptedRoot(set.pairs) === round.acceptedRoot;
    const leaf = rootMatches ? acceptedProof(set.pairs, me) : undefined;
    const listed = set.pairs.find((pair) => pair.address.toLowerCase() === me.toLowerCase());
    if (!leaf || listed?.commitment !== entry.commitment) {
      entry.state = 'omitted';
      entry.problem = !rootMatches
        ? `the coordinator's accepted set does not hash to the on-chain root ${round.acceptedRoot}`
        : 'the accepted update is not in the posted set';
      log.error(`round ${entry.round}: ${entry.problem}; the coordinator's signed receipt proves it was accepted`, {
        receipt: JSON.stringify(entry.receipt),
      });
      this.save();
      return true;
    }
    let status = await this.rewards.contribution(key, entry.round, leaf.index);
    if (status === 'none') {
      await (await this.rewards.submitContribution(key, entry.round, me, entry.proofs, leaf)).wait();
      log.info(`round ${entry.round}: contribution recorded on-chain`);
      status = 'recorded';
    }
    if (status === 'recorded') {
      await (await this.rewards.claim(key, entry.round, entry.commitment, leaf)).wait();
      log.info(`round ${entry.round}: claimed ${round.share} token units`);
    }
    entry.state = 'claimed';
    entry.reward = String(round.share);
    this.save();
    return true;
  }

  private save(): void {
    mkdirSync(dirname(this.ctx.file), { recursive: true });
    writeFileSync(`${this.ctx.file}.tmp`, JSON.stringify(this.entries, null, 2) + '\n');
    renameSync(`${this.ctx.file}.tmp`, this.ctx.file);
  }
}
