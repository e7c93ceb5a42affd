/**
 * The model owner's side of a coordinator's API: sign in (Sign-In with Ethereum), upload an evaluation set, create
 * a task. Every owner request carries the session the sign-in opened.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Signer } from 'ethers';
import { requestJson } from '../common/http.js';
import { datasetFiles } from '../ml/dataset.js';
import type { NonceView, SessionView, TaskView, UploadView } from '../protocol/rest.js';
import { signIn } from '../protocol/sign-in.js';
import type { TaskSpecInput } from '../protocol/task-spec.js';
import type { Upload } from '../protocol/uploads.js';

export class OwnerSession {
  private constructor(
    private readonly base: string,
    readonly session: SessionView,
  ) {}

  /** Signs in to the coordinator at `coordinatorUrl` as `signer`'s address. */
  static async open(coordinatorUrl: string, signer: Signer): Promise<OwnerSession> {
    const base = coordinatorUrl.replace(/\/$/, '');
    const nonce = await requestJson<NonceView>(`${base}/api/auth/nonce`);
    const session = await requestJson<SessionView>(`${base}/api/auth/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(await signIn(signer, base, nonce)),
    });
    return new OwnerSession(base, session);
  }

  get address(): string {
    return this.session.address;
  }

  private post<T>(path: string, body: unknown): Promise<T> {
    return requestJson<T>(`${this.base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.session.token}` },
      body: JSON.stringify(body),
    });
  }

  /** Uploads the data set at `path` (a CSV file, an IDX prefix or a directory: ml/dataset.ts) as an evaluation set. */
  upload(path: string): Promise<UploadView> {
    const files: Upload['files'] = {};
    for (const file of Object.values(datasetFiles(path))) files[basename(file)] = readFileSync(file).toString('base64');
    return this.post<UploadView>('/api/uploads', { files });
  }

  createTask(spec: TaskSpecInput): Promise<TaskView> {
    return this.post<TaskView>('/api/tasks', spec);
  }

  cancelTask(taskId: string): Promise<TaskView> {
    return this.post<TaskView>(`/api/tasks/${encodeURIComponent(taskId)}/cancel`, {});
  }
}
