/**
 * Where tasks' evaluation sets come from, and the only places the coordinator reads them: uploads the owners sent
 * (content-addressed, in the data directory) and files the operator put under the data root (`--data-root`).
 * Nothing a request names outside those is ever opened, and errors name files only as the owner named them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { type Dataset, head } from '../ml/dataset.js';
import { DataReader } from './data-reader.js';
import type { TaskLimits } from './limits.js';
import { ZkflError } from '../protocol/errors.js';
import type { UploadView } from '../protocol/rest.js';
import type { TaskSpec } from '../protocol/task-spec.js';
import { uploadSchema } from '../protocol/uploads.js';
import { parseOrThrow } from '../protocol/validate.js';
import { createLogger } from '../common/log.js';

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
    throw new ZkflError(error.code, error.message.split(hidden + sep).join(''), field);
  }
}

export class EvaluationData {
  private readonly uploads: string;
  private readonly reader = new DataReader();

  constructor(
    dataDir: string,
    private readonly dataRoot: string | undefined,
    private readonly limits: Pick<TaskLimits, 'evaluationBytes' | 'evaluationValues'>,
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
  async upload(body: unknown): Promise<UploadView> {
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
    const target = join(this.uploads, id);
    const staging = join(this.uploads, `.staging-${randomBytes(6).toString('hex')}`);
    mkdirSync(staging, { recursive: true });
    try {
      for (const [name, content] of decoded) writeFileSync(join(staging, name), content);
      const dataset = await this.read(staging, staging, 'files');
      if (!existsSync(target)) renameSync(staging, target);
      return { upload: id, bytes, count: dataset.count, exampleShape: dataset.exampleShape };
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }

  /**
   * The task's evaluation set (its first `limit` examples). `stored` is for a task this coordinator already
   * accepted: one created before data roots named its set by absolute path, and it is read from there still.
   */
  async load(evaluation: TaskSpec['evaluation'], stored = false): Promise<Dataset> {
    if (stored && evaluation.path !== undefined && isAbsolute(evaluation.path)) {
      log.warn('a task from before data roots: its evaluation set is read from the path it was created with', {
        path: evaluation.path,
      });
      return head(await this.read(evaluation.path, undefined, 'evaluation.path'), evaluation.limit);
    }
    if (evaluation.upload !== undefined) {
      const dir = join(this.uploads, evaluation.upload);
      if (!existsSync(dir)) {
        throw new ZkflError(
          'VALIDATION_FAILED',
          `no upload ${evaluation.upload} here: POST /api/uploads first`,
          'evaluation.upload',
        );
      }
      return head(await this.read(dir, dir, 'evaluation.upload'), evaluation.limit);
    }
    const root = this.root();
    return head(await this.read(this.underRoot(root, evaluation.path!), root, 'evaluation.path'), evaluation.limit);
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
