/**
 * What one task may ask of the coordinator: the operator's bounds, checked on the spec alone, before anything is
 * allocated, loaded or written. A spec over a bound is refused with LIMIT_EXCEEDED naming the field.
 */
import { modelSize, sizedLayerTypes } from '../../ml/model-size.js';
import { ZkflError } from '../../common/errors.js';
import type { TaskSpec } from '../../protocol/task-spec.js';

export interface TaskLimits {
  /** Parameters of a task's model. @default 1,000,000 */
  params: number;
  /** Values any one layer outputs per example (bounds memory in evaluation and scoring). @default 1,000,000 */
  activationsPerExample: number;
  /** Bytes of a topology's JSON. @default 256 KiB */
  modelJsonBytes: number;
  /** Layer types a topology may use (a subset of ml/model-size.ts `sizedLayerTypes`). @default all of them */
  layerTypes: readonly string[];
  /** @default 1,000 */
  rounds: number;
  /** Clients sampled per round (`clientsPerRound.target`). @default 10,000 */
  clientsPerRound: number;
  /** Tasks one owner may have running at once. @default 5 */
  tasksPerOwner: number;
  /** Bytes of an uploaded evaluation set. @default 64 MiB */
  evaluationBytes: number;
  /**
   * Feature values an evaluation set may hold (examples × features), counted as it is read: a file that expands to
   * more is refused before that much is allocated. @default 16,777,216 (64 MiB of float32)
   */
  evaluationValues: number;
  /** Bytes of all one owner's uploads together (the same files uploaded by two owners count for each). @default 256 MiB */
  uploadBytesPerOwner: number;
  /**
   * Seconds an upload is kept after it was last uploaded or used to create a task; one a running task uses is kept
   * until that task ends. @default 86,400 (a day)
   */
  uploadTtlSeconds: number;
}

export const defaultTaskLimits: TaskLimits = {
  params: 1_000_000,
  activationsPerExample: 1_000_000,
  modelJsonBytes: 256 * 1024,
  layerTypes: sizedLayerTypes,
  rounds: 1_000,
  clientsPerRound: 10_000,
  tasksPerOwner: 5,
  evaluationBytes: 64 * 1024 * 1024,
  evaluationValues: 16 * 1024 * 1024,
  uploadBytesPerOwner: 256 * 1024 * 1024,
  uploadTtlSeconds: 86_400,
};

function over(field: string, what: string, value: number, limit: number): ZkflError {
  return new ZkflError(
    'LIMIT_EXCEEDED',
    `${what} (${value.toLocaleString('en-US')}) exceed this coordinator's limit of ${limit.toLocaleString('en-US')}`,
    field,
  );
}

/** Throws LIMIT_EXCEEDED for the first bound `spec` exceeds. */
export function checkTaskLimits(spec: TaskSpec, limits: TaskLimits): void {
  if (spec.rounds > limits.rounds) throw over('rounds', 'rounds', spec.rounds, limits.rounds);
  const { target } = spec.clientsPerRound;
  if (target > limits.clientsPerRound)
    throw over('clientsPerRound.target', 'clients per round', target, limits.clientsPerRound);
  if ('topology' in spec.model) {
    const bytes = Buffer.byteLength(JSON.stringify(spec.model.topology));
    if (bytes > limits.modelJsonBytes) throw over('model', 'topology bytes', bytes, limits.modelJsonBytes);
  }
  const size = modelSize(spec.model, spec.inputShape, spec.classes, limits.layerTypes);
  if (size.params > limits.params) throw over('model', 'parameters', size.params, limits.params);
  if (size.largestActivation > limits.activationsPerExample) {
    throw over('model', 'values one layer outputs per example', size.largestActivation, limits.activationsPerExample);
  }
}
