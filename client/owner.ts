/**
 * The model owner's side of a coordinator's API: sign in (Sign-In with Ethereum), upload an evaluation set, create
 * a task. Every owner request carries the session the sign-in opened.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Signer } from 'ethers';
import { datasetFiles } from '../ml/dataset.js';
import { CoordinatorApi } from '../protocol/api.js';
import type { SessionView, TaskView, UploadView } from '../protocol/rest.js';
import { signIn } from '../protocol/sign-in.js';
import type { TaskSpecInput } from '../protocol/task-spec.js';
import type { Upload } from '../protocol/uploads.js';

export class OwnerSession {
  private constructor(
    readonly api: CoordinatorApi,
    readonly session: SessionView,
  ) {}

  /** Signs in to the coordinator at `coordinatorUrl` as `signer`'s address. */
  static async open(coordinatorUrl: string, signer: Signer): Promise<OwnerSession> {
    const api = new CoordinatorApi(coordinatorUrl);
    const session = await api.session(await signIn(signer, api.base, await api.nonce()));
    return new OwnerSession(api, session);
  }

  get address(): string {
    return this.session.address;
  }

  /** Uploads the data set at `path` (a CSV file, an IDX prefix or a directory: ml/dataset.ts) as an evaluation set. */
  upload(path: string): Promise<UploadView> {
    const files: Upload['files'] = {};
    for (const file of Object.values(datasetFiles(path))) files[basename(file)] = readFileSync(file).toString('base64');
    return this.api.upload(this.session.token, { files });
  }

  createTask(spec: TaskSpecInput): Promise<TaskView> {
    return this.api.createTask(this.session.token, spec);
  }

  cancelTask(taskId: string): Promise<TaskView> {
    return this.api.cancelTask(this.session.token, taskId);
  }
}
