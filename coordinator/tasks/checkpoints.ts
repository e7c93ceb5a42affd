/**
 * Model checkpoints on disk, one directory per task: `model-<r>.bin` holds w_r (the global weights that round r
 * starts from, float32 little-endian) and `state-<r>.bin` the server optimizer state that goes with it; a
 * publicAudit task's scoring set is kept there too (`scoring-set.json`), so its audit outlives its upload.
 * Files are written to a temporary name, flushed and renamed, so a crash never leaves a torn checkpoint.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { StrategyState } from '../../ml/aggregation.js';
import { alignedBuffer, bytesOf } from '../../common/bytes.js';
import type { ScoringSet } from '../../protocol/audit.js';

function writeAtomically(path: string, chunks: Uint8Array[]): void {
  const temporary = `${path}.tmp`;
  const fd = openSync(temporary, 'w');
  try {
    for (const chunk of chunks) writeSync(fd, chunk);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

function readFloats(path: string): Float32Array {
  return new Float32Array(alignedBuffer(readFileSync(path)));
}

export class Checkpoints {
  constructor(private readonly root: string) {}

  private dir(taskId: string): string {
    const dir = join(this.root, 'tasks', taskId);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  save(taskId: string, round: number, weights: Float32Array, state: StrategyState): void {
    const dir = this.dir(taskId);
    writeAtomically(join(dir, `state-${round}.bin`), state.map(bytesOf));
    writeAtomically(join(dir, `model-${round}.bin`), [bytesOf(weights)]);
  }

  loadWeights(taskId: string, round: number): Float32Array {
    return readFloats(join(this.dir(taskId), `model-${round}.bin`));
  }

  loadState(taskId: string, round: number, slots: number, size: number): StrategyState {
    const all = readFloats(join(this.dir(taskId), `state-${round}.bin`));
    if (all.length !== slots * size)
      throw new Error(`checkpoint state-${round}.bin has ${all.length} values, expected ${slots * size}`);
    return Array.from({ length: slots }, (_, slot) => all.slice(slot * size, (slot + 1) * size));
  }

  saveScoringSet(taskId: string, scoringSet: ScoringSet): void {
    writeAtomically(join(this.dir(taskId), 'scoring-set.json'), [Buffer.from(JSON.stringify(scoringSet))]);
  }

  /** The task's scoring set, or undefined for a task created before it was kept. */
  loadScoringSet(taskId: string): ScoringSet | undefined {
    const path = join(this.dir(taskId), 'scoring-set.json');
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ScoringSet) : undefined;
  }
}
