/**
 * Taking a task in: the spec an owner sends checked against this coordinator's rules before anything is loaded or
 * allocated (who may create tasks, its limits, its chain, stakes), and the quantization and circuit its updates get
 * (which the circuit's verifier must be deployed for, and which must fit the largest payload this coordinator takes).
 */
import { getAddress } from 'ethers';
import { loadCircuit, verificationKeySha256 } from '../../circuits/build.js';
import { bytesPerValue, quantizationFor, valueLimit } from '../../circuits/codec.js';
import { type CircuitFamily, circuitFor } from '../../circuits/params.js';
import { ZkflError } from '../../common/errors.js';
import type { ZkView } from '../../protocol/rest.js';
import { noiseMultiplierOf } from '../../protocol/privacy.js';
import { parseTaskSpec, type TaskSpec } from '../../protocol/task-spec.js';
import type { Settlement } from '../settlement/settlement.js';
import type { Storage } from '../state/storage.js';
import { checkTaskLimits, type TaskLimits } from './limits.js';

export interface AdmissionRules {
  storage: Storage;
  limits: TaskLimits;
  /** Who may create tasks, or undefined for anyone signed in (each up to `limits.tasksPerOwner`). */
  owners: Set<string> | undefined;
  settlement: Settlement | undefined;
  /** The circuit family tasks are proven with (`--circuit`), and the largest payload taken (`--max-payload-mb`). */
  options: { circuit: CircuitFamily; maxPayloadBytes: number };
}

export class TaskAdmission {
  constructor(private readonly rules: AdmissionRules) {}

  /** The spec as this coordinator takes it from `owner`: within its limits, its chain and its rules for stakes. */
  async admit(input: unknown, owner: string): Promise<TaskSpec> {
    this.checkOwner(owner);
    const spec = parseTaskSpec(input);
    if (spec.owner !== undefined && getAddress(spec.owner) !== owner) {
      throw new ZkflError('FORBIDDEN', `the spec names owner ${spec.owner}, but ${owner} signed in`, 'owner');
    }
    spec.owner = owner;
    checkTaskLimits(spec, this.rules.limits);
    const running = (await this.rules.storage.tasks.list('running')).filter((task) => task.spec.owner === owner).length;
    if (running >= this.rules.limits.tasksPerOwner) {
      throw new ZkflError(
        'LIMIT_EXCEEDED',
        `${owner} has ${running} running tasks, this coordinator's limit per owner`,
        'owner',
      );
    }
    if (spec.onchain && !this.rules.settlement) {
      throw new ZkflError('VALIDATION_FAILED', 'this coordinator runs without a chain; start it with one', 'onchain');
    }
    if (spec.onchain && !spec.proofs) {
      throw new ZkflError('VALIDATION_FAILED', 'an onchain task pays proven contributions: it needs proofs', 'onchain');
    }
    if (BigInt(spec.rewards.stake) > 0n && !spec.onchain) {
      throw new ZkflError(
        'VALIDATION_FAILED',
        'a stake is locked in the escrow: only onchain tasks take one',
        'rewards.stake',
      );
    }
    if (BigInt(spec.rewards.stake) >= 2n ** 96n) {
      throw new ZkflError('VALIDATION_FAILED', 'the stake must be under 2^96 base units', 'rewards.stake');
    }
    // A budget is calibrated to σ now: one no σ reaches is refused here, with its code, before anything is built.
    if (spec.privacy) noiseMultiplierOf(spec);
    return spec;
  }

  /** Only the coordinator's owners (`--owners`) create tasks and upload, when it names them. */
  checkOwner(owner: string): void {
    if (this.rules.owners && !this.rules.owners.has(owner)) {
      throw new ZkflError('FORBIDDEN', `${owner} is not allowed to create tasks on this coordinator`);
    }
  }

  /** The task's quantization and circuit, refused when its updates could not settle or reach this coordinator. */
  zkFor(spec: TaskSpec, numParams: number): ZkView {
    const zk = this.zkParameters(spec, numParams);
    if (spec.onchain) this.checkVerifierDeployed(zk.circuit);
    this.checkUpdatesFit(numParams, zk);
    return zk;
  }

  /** A task whose updates could not reach this coordinator (`--max-payload-mb`) is refused. */
  private checkUpdatesFit(numParams: number, zk: ZkView): void {
    const bytes = updateBytesOf(numParams, zk);
    if (bytes <= this.rules.options.maxPayloadBytes) return;
    throw new ZkflError(
      'LIMIT_EXCEEDED',
      `the task's updates would take ${bytes} bytes; this coordinator takes at most ${this.rules.options.maxPayloadBytes}`,
      'model',
    );
  }

  /** An on-chain task settles only if the chain has its circuit's verifier: refused up front otherwise. */
  private checkVerifierDeployed(circuit: string): void {
    if (this.rules.settlement?.deployment.verifiers[circuit]) return;
    throw new ZkflError(
      'UNAVAILABLE',
      `the chain this coordinator settles on has no verifier for circuit ${circuit}, which this task's model needs: deploy it (build it with \`npx zkfl setup --circuit <name>\`, then deploy again)`,
      'onchain',
    );
  }

  /** How the task's updates are quantized and proven, fixed for its whole life. */
  private zkParameters(spec: TaskSpec, numParams: number): ZkView {
    const params = circuitFor(this.rules.options.circuit, spec.quantization.bits, numParams);
    const quantization = quantizationFor(numParams, spec.clipNorm, params);
    if (!quantization) {
      throw new ZkflError(
        'VALIDATION_FAILED',
        `clipNorm ${spec.clipNorm} is too large for ${params.valueBits}-bit values (at most ${valueLimit(params.valueBits)} per chunk)`,
        'clipNorm',
      );
    }
    let verificationKey: string | null = null;
    if (spec.proofs) {
      const artifacts = loadCircuit(params);
      if (!artifacts)
        throw new ZkflError(
          'UNAVAILABLE',
          `circuit ${params.name} is not built on the coordinator: run \`npx zkfl setup\``,
        );
      verificationKey = verificationKeySha256(artifacts);
    }
    return {
      circuit: params.name,
      chunkSize: params.chunkSize,
      chunks: quantization.chunks,
      valueBits: params.valueBits,
      clipSquareX96: String(quantization.clipSquareX96),
      verificationKeySha256: verificationKey,
      statementNamesKey: true,
    };
  }
}

/**
 * The most an update for a task can weigh on the wire: its values, and per chunk a scale and a proof as large as the
 * payload schema lets one be.
 */
export function updateBytesOf(numParams: number, zk: Pick<ZkView, 'valueBits' | 'chunks'>): number {
  return numParams * bytesPerValue(zk.valueBits) + zk.chunks * 8 * 1024 + 16 * 1024;
}
