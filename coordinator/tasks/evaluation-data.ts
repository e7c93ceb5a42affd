/**
 * Where tasks' evaluation sets come from, and the only places the coordinator reads them: uploads the owners sent
 * (content-addressed, in the data directory) and files the operator put under the data root (`--data-root`).
 * Nothing a request names outside those is ever opened, and errors name files only as the owner named them.
 *
 * An upload belongs to who uploaded it: only their tasks may use it (another owner's task could otherwise turn its
 * accuracy into an oracle on the set's labels). Each owner's uploads count against a quota, and one that no running
 * task uses expires a while after it was last uploaded or used (limits.ts, `uploadTtlSeconds`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { type Dataset, head } from '../../ml/dataset.js';
import { DataReader } from './data-reader.js';
import type { TaskLimits } from './limits.js';
import type { Storage } from '../state/storage.js';
import { ZkflError } from '../../common/errors.js';
import type { UploadView } from '../../protocol/rest.js';
import type { TaskSpec } from '../../protocol/task-spec.js';
import { uploadSchema } from '../../protocol/uploads.js';
import { parseOrThrow } from '../../protocol/validate.js';
import { createLogger } from '../../common/log.js';

const log = createLogger('coordinator');

/** The id of an upload: sha256 over its files' names and contents' sha256, so the same files are one upload. */
function uploadId(files: Array<[string, Buffer]>): string {
  const hash = createHash('sha256');
  for (const [name, content] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    hash.update(`${name}\n${createHash('sha256').update(content).digest('hex')}\n`);
  }
  return hash.digest('hex');
}

/**
 * Runs `load`, rewriting the directory `hidden` out of any error message (it is the operator's, not the owner's)
 * and naming the spec's `field`; the error keeps its code (DATA_MISSING, DATA_MALFORMED, LIMIT_EXCEEDED, …).
 */
async function naming<T>(hidden: string, field: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (!(error instanceof ZkflError)) throw error;
    throw new ZkflError(
      error.code,
      error.message
        .split(hidden + sep)
        .join('')
        .split(hidden)
        .join('.'),
      field,
    );
  }
}

/** The same answer for an upload that never was, expired or is another owner's: none says which. */
function noUpload(id: string): ZkflError {
  return new ZkflError(
    'VALIDATION_FAILED',
    `you have no upload ${id} here: POST /api/uploads first (uploads expire when no running task uses them)`,
    'evaluation.upload',
  );
}

export class EvaluationData {
  private readonly uploads: string;
  private readonly reader = new DataReader();

  constructor(
    dataDir: string,
    private readonly dataRoot: string | undefined,
    private readonly limits: Pick<
      TaskLimits,
      'evaluationBytes' | 'evaluationValues' | 'uploadBytesPerOwner' | 'uploadTtlSeconds'
    >,
    private readonly storage: Storage,
  ) {
    this.uploads = join(dataDir, 'uploads');
  }

  /** Reads the data set at `path`, bounded by the limits, opening only files under `root`. */
  private read(path: string, root: string | undefined, field: string): Promise<Dataset> {
    return naming(root ?? '', field, () =>
      this.reader.read(path, { maxValues: this.limits.evaluationValues, ...(root ? { root } : {}) }),
    );
  }

  /** Stores an owner's upload after checking it holds one data set; answers its id and what it holds. */
  async upload(body: unknown, owner: string): Promise<UploadView> {
    const { files } = parseOrThrow(uploadSchema, body, 'upload');
    const decoded = Object.entries(files).map(([name, base64]): [string, Buffer] => [
      name,
      Buffer.from(base64, 'base64'),
    ]);
    const bytes = decoded.reduce((sum, [, content]) => sum + content.length, 0);
    if (bytes > this.limits.evaluationBytes) {
      throw new ZkflError(
        'LIMIT_EXCEEDED',
        `an upload of ${bytes} bytes exceeds the limit of ${this.limits.evaluationBytes}`,
        'files',
      );
    }
    const id = uploadId(decoded);
    await this.checkQuota(owner, id, bytes);
    const target = join(this.uploads, id);
    const staging = join(this.uploads, `.staging-${randomBytes(6).toString('hex')}`);
    mkdirSync(staging, { recursive: true });
    try {
      for (const [name, content] of decoded) writeFileSync(join(staging, name), content);
      const dataset = await this.read(staging, staging, 'files');
      if (!existsSync(target)) renameSync(staging, target);
      await this.storage.uploads.touch(id, owner, bytes);
      return { upload: id, bytes, count: dataset.count, exampleShape: dataset.exampleShape };
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }

  /** Refuses an upload that would take `owner` over their quota (expired uploads swept first). */
  private async checkQuota(owner: string, id: string, bytes: number): Promise<void> {
    await this.sweep();
    const held = await this.storage.uploads.ownerBytes(owner, id);
    if (held + bytes <= this.limits.uploadBytesPerOwner) return;
    throw new ZkflError(
      'LIMIT_EXCEEDED',
      `${owner} holds ${held} bytes of uploads here; ${bytes} more would exceed the limit of ${this.limits.uploadBytesPerOwner} per owner (an upload no running task uses expires ${this.limits.uploadTtlSeconds} s after its last use)`,
      'files',
    );
  }

  /**
   * Forgets uploads that expired (unused for `uploadTtlSeconds`, and by no running task), and deletes files nobody
   * holds any more: those of forgotten uploads, of uploads from before they had owners, of crashed uploads.
   */
  async sweep(): Promise<void> {
    const cutoff = Date.now() - this.limits.uploadTtlSeconds * 1000;
    const running = (await this.storage.tasks.list('running')).filter((task) => task.spec.evaluation.upload);
    const usedBy = new Set(running.map((task) => `${task.spec.evaluation.upload}/${task.spec.owner}`));
    for (const { id, owner } of await this.storage.uploads.stale(cutoff)) {
      if (usedBy.has(`${id}/${owner}`)) continue;
      log.info('upload expired', { upload: id, owner });
      await this.storage.uploads.remove(id, owner);
    }
    const kept = await this.storage.uploads.held();
    for (const task of running) kept.add(task.spec.evaluation.upload!);
    if (!existsSync(this.uploads)) return;
    for (const name of readdirSync(this.uploads)) {
      const path = join(this.uploads, name);
      // An upload being checked now has its staging directory: only one left by a crash an hour ago goes.
      const before = name.startsWith('.staging-') ? Math.min(cutoff, Date.now() - 3_600_000) : cutoff;
      const modified = statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Infinity;
      if (!kept.has(name) && modified < before) rmSync(path, { recursive: true, force: true });
    }
  }

  /**
   * The task's evaluation set (its first `limit` examples). A new task (`owner` given) may use only its owner's
   * uploads, and using one keeps it from expiring. A `stored` task, one this coordinator already accepted, is read
   * as it was created: one from before data roots named its set by absolute path, and it is read from there still.
   */
  async load(evaluation: TaskSpec['evaluation'], use: { owner: string } | 'stored'): Promise<Dataset> {
    if (use === 'stored' && evaluation.path !== undefined && isAbsolute(evaluation.path)) {
      log.warn('a task from before data roots: its evaluation set is read from the path it was created with', {
        path: evaluation.path,
      });
      return head(await this.read(evaluation.path, undefined, 'evaluation.path'), evaluation.limit);
    }
    if (evaluation.upload !== undefined) {
      const dir = join(this.uploads, evaluation.upload);
      if (use !== 'stored') await this.claimUpload(evaluation.upload, use.owner);
      if (!existsSync(dir)) throw noUpload(evaluation.upload);
      return head(await this.read(dir, dir, 'evaluation.upload'), evaluation.limit);
    }
    const root = this.root();
    return head(await this.read(this.underRoot(root, evaluation.path!), root, 'evaluation.path'), evaluation.limit);
  }

  /** Refuses an upload that is not `owner`'s as if it did not exist; else marks it used now. */
  private async claimUpload(id: string, owner: string): Promise<void> {
    const bytes = await this.storage.uploads.bytes(id, owner);
    if (bytes === undefined) throw noUpload(id);
    await this.storage.uploads.touch(id, owner, bytes);
  }

  private root(): string {
    if (this.dataRoot === undefined) {
      throw new ZkflError(
        'VALIDATION_FAILED',
        'this coordinator has no data root (--data-root): upload the evaluation set instead (zkfl task create --evaluation FILE)',
        'evaluation.path',
      );
    }
    return realpathSync(this.dataRoot);
  }

  /** `name` under `root`, refused if it is absolute, climbs out with `..` or leads out through a symlink. */
  private underRoot(root: string, name: string): string {
    const refuse = (): never => {
      throw new ZkflError(
        'VALIDATION_FAILED',
        `${name} is not a name under this coordinator's data root (relative, without ..)`,
        'evaluation.path',
      );
    };
    if (isAbsolute(name) || name.split(/[\\/]/).includes('..') || name.includes('\0')) refuse();
    const full = join(root, name);
    const inside = (path: string): boolean => path === root || path.startsWith(root + sep);
    for (const path of [dirname(full), full]) if (existsSync(path) && !inside(realpathSync(path))) refuse();
    return full;
  }
}
