/**
 * Where the coordinator parses the data sets owners send and name: in a child process of its own, one at a time,
 * with a heap limit and a time limit. A data set is bounded in values before it is allocated (ml/data-parsers.ts),
 * and however long a hostile file takes to refuse, the coordinator keeps answering meanwhile.
 */
import { forkModule } from '../../common/fork.js';
import type { Dataset, ReadLimits } from '../../ml/dataset.js';
import { type ErrorBody, ZkflError } from '../../common/errors.js';

export interface DataReaderOptions {
  /** Heap of the reading process, in MiB (the data set's own arrays live outside it). @default 256 */
  heapMb: number;
  /** Seconds a data set may take to read before it is refused. @default 60 */
  timeoutSeconds: number;
}

export const defaultDataReaderOptions: DataReaderOptions = { heapMb: 256, timeoutSeconds: 60 };

type Answer = { ready: true } | { dataset: Dataset } | { error: ErrorBody };

export class DataReader {
  /** Reads run one after another: memory is bounded by one data set, however many are sent at once. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: DataReaderOptions = defaultDataReaderOptions) {}

  /** The data set at `path`, read within `limits` (see readDataset), or its coded refusal. */
  read(path: string, limits: ReadLimits): Promise<Dataset> {
    const read = this.queue.then(() => this.readInChild(path, limits));
    this.queue = read.catch(() => undefined);
    return read;
  }

  private readInChild(path: string, limits: ReadLimits): Promise<Dataset> {
    const child = forkModule(new URL('./data-reader-process.ts', import.meta.url), [
      `--max-old-space-size=${this.options.heapMb}`,
    ]);
    return new Promise<Dataset>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new ZkflError('DATA_MALFORMED', `${path} took longer than ${this.options.timeoutSeconds} s to read`));
      }, this.options.timeoutSeconds * 1000);
      child.on('message', (answer: Answer) => {
        if ('ready' in answer) return void child.send({ path, limits });
        clearTimeout(timer);
        if ('dataset' in answer) resolve(answer.dataset);
        else reject(new ZkflError(answer.error.code, answer.error.message, answer.error.field));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        // Resolved already unless it died first: out of memory, or killed.
        reject(new ZkflError('DATA_MALFORMED', `${path} could not be read (the reader stopped: ${signal ?? code})`));
      });
    });
  }
}
