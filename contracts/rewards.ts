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
import type { AcceptedLeafProof, SolidityChunkProof } from './accepted-set.js';
import { zkflContracts } from './compile.js';

export interface OnchainTaskParams {
  coordinator: string;
  token: string;
  verifier: string;
  rounds: number;
  chunks: number;
  /** ⌊τ_k²·2^96⌋: the chunk clip every chunk's norm bound derives from (circuits/codec.ts). */
  clipSquareX96: bigint;
  /** Unix seconds. */
  deadline: number;
  rewardPerRound: bigint;
}

export interface OnchainTask extends OnchainTaskParams {
  owner: string;
  roundsOpened: number;
  reclaimed: boolean;
  paid: bigint;
}

export interface OnchainRound {
  modelHash: string;
  acceptedRoot: string;
  share: bigint;
  acceptedCount: number;
  closed: boolean;
}

export type ContributionStatus = 'none' | 'recorded' | 'claimed';

type Call = (...args: unknown[]) => Promise<unknown>;
type Method = Call & { populateTransaction: (...args: unknown[]) => Promise<TransactionRequest> };

export class RewardsContract {
  readonly contract: BaseContract;

  constructor(address: string, runner: ContractRunner) {
    this.contract = new Contract(address, zkflContracts().ZkflRewards.abi, runner);
  }

  private method(name: string): Method {
    return this.contract.getFunction(name);
  }

  private async send(name: string, ...args: unknown[]): Promise<ContractTransactionResponse> {
    return (await this.method(name)(...args)) as ContractTransactionResponse;
  }

  /** An unsigned transaction calling `name`, for a caller that signs and keeps it (coordinator settlement). */
  populate(name: 'openRound' | 'closeRound', ...args: unknown[]): Promise<TransactionRequest> {
    return this.method(name).populateTransaction(...args);
  }

  /** The task, or undefined when nobody created it. */
  async task(taskKey: string): Promise<OnchainTask | undefined> {
    const fields = ((await this.method('tasks')(taskKey)) as Result).toObject() as {
      [K in keyof OnchainTask]: OnchainTask[K] extends number ? bigint : OnchainTask[K];
    };
    if (fields.verifier === ZeroAddress) return undefined;
    return {
      ...fields,
      deadline: Number(fields.deadline),
      chunks: Number(fields.chunks),
      rounds: Number(fields.rounds),
      roundsOpened: Number(fields.roundsOpened),
    };
  }

  async round(taskKey: string, round: number): Promise<OnchainRound> {
    const [modelHash, acceptedRoot, share, acceptedCount, closed] = (await this.method('rounds')(
      taskKey,
      round,
    )) as unknown[];
    return {
      modelHash: modelHash as string,
      acceptedRoot: acceptedRoot as string,
      share: share as bigint,
      acceptedCount: Number(acceptedCount),
      closed: closed as boolean,
    };
  }

  /** What became of leaf `index` of a round's accepted set. */
  async contribution(taskKey: string, round: number, index: number): Promise<ContributionStatus> {
    const [recorded, claimed] = (await this.method('contributionOf')(taskKey, round, index)) as [boolean, boolean];
    return claimed ? 'claimed' : recorded ? 'recorded' : 'none';
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

  openRound(taskKey: string, round: number, modelHash: string): Promise<ContractTransactionResponse> {
    return this.send('openRound', taskKey, round, modelHash);
  }

  closeRound(taskKey: string, round: number, root: string, count: number): Promise<ContractTransactionResponse> {
    return this.send('closeRound', taskKey, round, root, count);
  }

  /** Records `contributor`'s contribution at leaf `accepted.index` (anyone may send this). */
  submitContribution(
    taskKey: string,
    round: number,
    contributor: string,
    proofs: SolidityChunkProof[],
    accepted: AcceptedLeafProof,
  ): Promise<ContractTransactionResponse> {
    return this.send('submitContribution', taskKey, round, accepted.index, contributor, proofs, accepted.proof);
  }

  /** Pays the sender its share for its recorded leaf. */
  claim(
    taskKey: string,
    round: number,
    updateCommitment: string,
    accepted: AcceptedLeafProof,
  ): Promise<ContractTransactionResponse> {
    return this.send('claim', taskKey, round, accepted.index, updateCommitment, accepted.proof);
  }

  reclaim(taskKey: string): Promise<ContractTransactionResponse> {
    return this.send('reclaim', taskKey);
  }

  /** The task's events named `name` (RoundOpened, ContributionRecorded, RewardClaimed, …), oldest first. */
  async events(name: string, taskKey: string): Promise<EventLog[]> {
    const filter = this.contract.filters[name];
    if (!filter) throw new Error(`ZkflRewards has no event ${name}`);
    return (await this.contract.queryFilter(filter(taskKey), 0)) as EventLog[];
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
  const data = revertData(error, 0);
  if (!data) return undefined;
  try {
    return new Interface(zkflContracts().ZkflRewards.abi).parseError(data)?.name;
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
    this.contract = new Contract(address, zkflContracts().RewardToken.abi, runner);
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

  /** RewardToken only: its owner mints. */
  async mint(to: string, amount: bigint): Promise<ContractTransactionResponse> {
    return (await this.call('mint', to, amount)) as ContractTransactionResponse;
  }
}
