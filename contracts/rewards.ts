/**
 * Typed access to a deployed ZkflRewards: reads decoded into plain objects, writes as transactions, and revert
 * reasons decoded to their custom error names (Rewards__…).
 */
import {
  type BaseContract,
  Contract,
  type ContractRunner,
  type ContractTransactionResponse,
  type EventLog,
  Interface,
  type Result,
  type TransactionRequest,
  ZeroAddress,
} from 'ethers';
import type { LeafClaim, OnchainLeaf, SolidityChunkProof } from './accepted-set.js';
// The ABIs without a compiler, so that a browser can talk to the contracts too (scripts/abi.ts writes them).
import abi from './abi.json' with { type: 'json' };

/** ZkflRewards.MAX_CHUNKS: chunk proofs a contribution may have, so that answering a challenge fits a block. */
export const MAX_CHUNKS = 64;

export interface OnchainTaskParams {
  coordinator: string;
  token: string;
  verifier: string;
  /** sha256 of the circuit's verification key, 0x-hex: every statement names it (circuits/statement.ts). */
  verificationKey: string;
  rounds: number;
  chunks: number;
  /** The reward rule's equal base share of each round's pool, in basis points. */
  baseShareBps: number;
  /** ⌊τ_k²·2^96⌋: the chunk clip every chunk's norm bound derives from (circuits/codec.ts). */
  clipSquareX96: bigint;
  /** Unix seconds. */
  deadline: number;
  /** Seconds after a round closes in which its leaves may be challenged; claims wait for them. */
  challengeWindow: number;
  /** Seconds to answer a challenge or an omission claim. */
  answerWindow: number;
  /** Seconds contributors have to claim, at the least, after a round's windows (no round opens later). */
  claimPeriod: number;
  /** Tokens each contributor locks before it takes part (0n: none); a voided leaf forfeits its sender's. */
  stake: bigint;
  rewardPerRound: bigint;
  /** Tokens the coordinator must post before round 1. */
  coordinatorBond: bigint;
  /** Tokens a challenger puts up. */
  challengeBond: bigint;
}

export interface OnchainTask extends OnchainTaskParams {
  owner: string;
  roundsOpened: number;
  /** Rounds whose unpaid rest the owner has reclaimed (reclaim works through them in batches). */
  reclaimedThrough: number;
  /** What is left of the coordinator's bond. */
  bond: bigint;
  openDisputes: number;
  /** Stakes forfeited by voided leaves, which the owner reclaims. */
  forfeited: bigint;
  /** Sum of the closed rounds' totals: round r may post at most r pools less this. */
  allotted: bigint;
}

export interface OnchainRound {
  modelHash: string;
  acceptedRoot: string;
  acceptedCount: number;
  total: bigint;
  /** What of the total nobody has claimed yet. */
  unpaid: bigint;
  /** Unix seconds at which the challenge window ends and claims open (0 while open). */
  claimableAt: number;
  closed: boolean;
}

export const challengeStates = ['none', 'open', 'answered', 'voided'] as const;
export type ChallengeState = (typeof challengeStates)[number];

type Call = (...args: unknown[]) => Promise<unknown>;
type Method = Call & { populateTransaction: (...args: unknown[]) => Promise<TransactionRequest> };

/** The coordinator's transactions, which it signs itself and keeps (coordinator/settlement/settlement.ts). */
export type CoordinatorCall = 'postBond' | 'openRound' | 'closeRound' | 'answerChallenge' | 'showLeaf';

export class RewardsContract {
  readonly contract: BaseContract;

  constructor(address: string, runner: ContractRunner) {
    this.contract = new Contract(address, abi.ZkflRewards, runner);
  }

  private method(name: string): Method {
    return this.contract.getFunction(name);
  }

  private async send(name: string, ...args: unknown[]): Promise<ContractTransactionResponse> {
    return (await this.method(name)(...args)) as ContractTransactionResponse;
  }

  /** An unsigned transaction calling `name`, for a caller that signs and keeps it (coordinator settlement). */
  populate(name: CoordinatorCall, ...args: unknown[]): Promise<TransactionRequest> {
    return this.method(name).populateTransaction(...args);
  }

  private async read<T>(name: string, ...args: unknown[]): Promise<T> {
    return ((await this.method(name)(...args)) as Result).toObject() as T;
  }

  /** The task, or undefined when nobody created it. */
  async task(taskKey: string): Promise<OnchainTask | undefined> {
    const fields = ((await this.method('taskOf')(taskKey)) as Result).toObject() as {
      [K in keyof OnchainTask]: OnchainTask[K] extends number ? bigint : OnchainTask[K];
    };
    if (fields.verifier === ZeroAddress) return undefined;
    return {
      ...fields,
      deadline: Number(fields.deadline),
      chunks: Number(fields.chunks),
      baseShareBps: Number(fields.baseShareBps),
      rounds: Number(fields.rounds),
      roundsOpened: Number(fields.roundsOpened),
      reclaimedThrough: Number(fields.reclaimedThrough),
      challengeWindow: Number(fields.challengeWindow),
      answerWindow: Number(fields.answerWindow),
      claimPeriod: Number(fields.claimPeriod),
      openDisputes: Number(fields.openDisputes),
    };
  }

  async round(taskKey: string, round: number): Promise<OnchainRound> {
    const fields = ((await this.method('roundOf')(taskKey, round)) as Result).toObject() as {
      [K in keyof OnchainRound]: OnchainRound[K] extends number ? bigint : OnchainRound[K];
    };
    return {
      ...fields,
      acceptedCount: Number(fields.acceptedCount),
      claimableAt: Number(fields.claimableAt),
    };
  }

  /** Whether a leaf was paid, and what became of a challenge against it. */
  async leafStatus(
    taskKey: string,
    round: number,
    index: number,
  ): Promise<{ claimed: boolean; challenge: ChallengeState }> {
    const [claimed, challenge] = (await this.method('leafStatus')(taskKey, round, index)) as [boolean, bigint];
    return { claimed, challenge: challengeStates[Number(challenge)]! };
  }

  /** The state of `contributor`'s omission claim in a round. */
  async omission(taskKey: string, round: number, contributor: string): Promise<ChallengeState> {
    const { state } = await this.read<{ state: bigint }>('omissions', taskKey, round, contributor);
    return challengeStates[Number(state)]!;
  }

  async statementOf(
    taskKey: string,
    round: number,
    contributor: string,
    chunkIndex: number,
    fractionBits: number,
  ): Promise<bigint> {
    return (await this.method('statementOf')(taskKey, round, contributor, chunkIndex, fractionBits)) as bigint;
  }

  createTask(taskKey: string, params: OnchainTaskParams): Promise<ContractTransactionResponse> {
    return this.send('createTask', taskKey, params);
  }

  postBond(taskKey: string, amount: bigint): Promise<ContractTransactionResponse> {
    return this.send('postBond', taskKey, amount);
  }

  openRound(taskKey: string, round: number, modelHash: string): Promise<ContractTransactionResponse> {
    return this.send('openRound', taskKey, round, modelHash);
  }

  closeRound(
    taskKey: string,
    round: number,
    root: string,
    count: number,
    total: bigint,
  ): Promise<ContractTransactionResponse> {
    return this.send('closeRound', taskKey, round, root, count, total);
  }

  /** Pays the sender its leaves, any number of rounds, in one transfer. */
  claim(taskKey: string, claims: LeafClaim[]): Promise<ContractTransactionResponse> {
    return this.send('claim', taskKey, claims);
  }

  challenge(taskKey: string, round: number, leaf: OnchainLeaf, proof: string[]): Promise<ContractTransactionResponse> {
    return this.send('challenge', taskKey, round, leaf, proof);
  }

  answerChallenge(
    taskKey: string,
    round: number,
    leaf: OnchainLeaf,
    proofs: SolidityChunkProof[],
  ): Promise<ContractTransactionResponse> {
    return this.send('answerChallenge', taskKey, round, leaf, proofs);
  }

  resolveChallenge(taskKey: string, round: number, index: number): Promise<ContractTransactionResponse> {
    return this.send('resolveChallenge', taskKey, round, index);
  }

  claimOmission(
    taskKey: string,
    round: number,
    updateCommitment: string,
    signature: string,
  ): Promise<ContractTransactionResponse> {
    return this.send('claimOmission', taskKey, round, updateCommitment, signature);
  }

  showLeaf(taskKey: string, round: number, leaf: OnchainLeaf, proof: string[]): Promise<ContractTransactionResponse> {
    return this.send('showLeaf', taskKey, round, leaf, proof);
  }

  resolveOmission(taskKey: string, round: number, contributor: string): Promise<ContractTransactionResponse> {
    return this.send('resolveOmission', taskKey, round, contributor);
  }

  /** Locks the task's stake for the sender (the contract takes it: approve the token first). */
  stake(taskKey: string): Promise<ContractTransactionResponse> {
    return this.send('stake', taskKey);
  }

  /** Gives the sender its stake back, once no leaf of the task can be challenged any more. */
  unstake(taskKey: string): Promise<ContractTransactionResponse> {
    return this.send('unstake', taskKey);
  }

  async stakeOf(taskKey: string, contributor: string): Promise<bigint> {
    return (await this.method('stakeOf')(taskKey, contributor)) as bigint;
  }

  reclaim(taskKey: string): Promise<ContractTransactionResponse> {
    return this.send('reclaim', taskKey);
  }

  withdrawBond(taskKey: string): Promise<ContractTransactionResponse> {
    return this.send('withdrawBond', taskKey);
  }

  /** The task's events named `name` (RoundOpened, RoundClosed, RewardClaimed, LeafChallenged, …), oldest first. */
  async events(name: string, taskKey: string): Promise<EventLog[]> {
    const filter = this.contract.filters[name];
    if (!filter) throw new Error(`ZkflRewards has no event ${name}`);
    return (await this.contract.queryFilter(filter(taskKey), 0)) as EventLog[];
  }

  /** Every event of the task (all carry its key as their first topic) in blocks [fromBlock, toBlock], oldest first. */
  async taskEvents(taskKey: string, fromBlock: number, toBlock: number): Promise<EventLog[]> {
    const logs = await this.contract.queryFilter([null, taskKey], fromBlock, toBlock);
    return logs.filter((log): log is EventLog => 'eventName' in log);
  }

  /** The contract's MAX_CHUNKS (MAX_CHUNKS here is its twin). */
  async maxChunks(): Promise<number> {
    return Number(await this.method('MAX_CHUNKS')());
  }

  connect(runner: ContractRunner): RewardsContract {
    return new RewardsContract(this.contract.target as string, runner);
  }
}

/**
 * The custom error a failed call or transaction reverted with (e.g. 'Rewards__NotAccepted'), if it did. Providers
 * nest the revert data differently (ethers' own calls, JSON-RPC errors, Hardhat's in-process ones), so it is looked
 * for wherever it may be and decoded with the rewards ABI.
 */
export function revertName(error: unknown): string | undefined {
  return revertError(error)?.name;
}

/** The arguments of the custom error a call reverted with (`Rewards__InvalidParameters`'s reason, say). */
export function revertArgs(error: unknown): unknown[] | undefined {
  return revertError(error)?.args;
}

function revertError(error: unknown): { name: string; args: unknown[] } | undefined {
  const data = revertData(error, 0);
  if (!data) return undefined;
  try {
    const parsed = new Interface(abi.ZkflRewards).parseError(data);
    return parsed ? { name: parsed.name, args: [...parsed.args] } : undefined;
  } catch {
    return undefined;
  }
}

function revertData(error: unknown, depth: number): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 4) return undefined;
  const { data } = error as { data?: unknown };
  if (typeof data === 'string' && /^0x[0-9a-fA-F]{8}/.test(data)) return data;
  for (const key of ['error', 'info', 'cause', 'data']) {
    const found = revertData((error as Record<string, unknown>)[key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** The ERC-20 rewards are paid in (RewardToken on local chains, which also mints). */
export class TokenContract {
  readonly contract: BaseContract;

  constructor(address: string, runner: ContractRunner) {
    this.contract = new Contract(address, abi.RewardToken, runner);
  }

  private call(name: string, ...args: unknown[]): Promise<unknown> {
    return this.contract.getFunction(name)(...args);
  }

  async balanceOf(owner: string): Promise<bigint> {
    return (await this.call('balanceOf', owner)) as bigint;
  }

  async approve(spender: string, amount: bigint): Promise<ContractTransactionResponse> {
    return (await this.call('approve', spender, amount)) as ContractTransactionResponse;
  }

  connect(runner: ContractRunner): TokenContract {
    return new TokenContract(this.contract.target as string, runner);
  }

  /** RewardToken only: its owner mints. */
  async mint(to: string, amount: bigint): Promise<ContractTransactionResponse> {
    return (await this.call('mint', to, amount)) as ContractTransactionResponse;
  }
}
