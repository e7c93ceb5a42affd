/**
 * The coordinator's REST API, each route once: its method, its path (the pattern the server mounts, with `:name`
 * parameters) and what it answers. The server's router (coordinator/surface/rest.ts) and the one client every caller uses
 * (`CoordinatorApi`: the CLI, the training client, owners, `zkfl verify`, circuit fetching, tests, benchmarks) are
 * both built on this table, so a path is never assembled by hand.
 */
import { requestBytes, requestJson } from './http.js';
import type { AuditBundle } from './audit.js';
import type {
  AcceptedSetView,
  HolderView,
  InfoView,
  NonceView,
  RoundView,
  SessionView,
  SettlementView,
  TaskView,
  UploadView,
} from './rest.js';
import type { SignIn } from './sign-in.js';
import type { TaskSpecInput } from './task-spec.js';
import type { TermsView } from './terms.js';
import type { Upload } from './uploads.js';

interface Route {
  method: 'GET' | 'POST';
  path: `/api/${string}`;
  /** Needs an owner's session (`Authorization: Bearer <token>`). */
  owner?: true;
}

export const routes = {
  health: { method: 'GET', path: '/api/health' },
  info: { method: 'GET', path: '/api/info' },
  nonce: { method: 'GET', path: '/api/auth/nonce' },
  session: { method: 'POST', path: '/api/auth/session' },
  upload: { method: 'POST', path: '/api/uploads', owner: true },
  createTask: { method: 'POST', path: '/api/tasks', owner: true },
  cancelTask: { method: 'POST', path: '/api/tasks/:id/cancel', owner: true },
  tasks: { method: 'GET', path: '/api/tasks' },
  task: { method: 'GET', path: '/api/tasks/:id' },
  terms: { method: 'GET', path: '/api/tasks/:id/terms' },
  rounds: { method: 'GET', path: '/api/tasks/:id/rounds' },
  round: { method: 'GET', path: '/api/tasks/:id/rounds/:round' },
  accepted: { method: 'GET', path: '/api/tasks/:id/rounds/:round/accepted' },
  // TF.js layers format: `tf.loadLayersModel('<url>/model.json')` fetches weights.bin beside it.
  modelJson: { method: 'GET', path: '/api/tasks/:id/model/:which/model.json' },
  weights: { method: 'GET', path: '/api/tasks/:id/model/:which/weights.bin' },
  circuitFile: { method: 'GET', path: '/api/circuits/:name/:file' },
  audit: { method: 'GET', path: '/api/audit/tasks/:id' },
  holder: { method: 'GET', path: '/api/holders/:address' },
  settlement: { method: 'GET', path: '/api/tasks/:id/settlement' },
} as const satisfies Record<string, Route>;

export type RouteName = keyof typeof routes;

/** The path of `route` with its parameters filled in (each URI-encoded). */
export function pathOf(route: RouteName, params: Record<string, string | number> = {}): string {
  return routes[route].path.replace(/:([a-z]+)/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${route}: no value for :${name}`);
    return encodeURIComponent(String(value));
  });
}

/** A round in a model path: a number, or the newest model. */
export type ModelRound = number | 'latest';

/** A coordinator's REST API, typed; errors are ZkflErrors with the coordinator's code (protocol/http.ts). */
export class CoordinatorApi {
  readonly base: string;

  constructor(coordinatorUrl: string) {
    this.base = coordinatorUrl.replace(/\/$/, '');
  }

  /** The absolute URL of `route`. */
  url(route: RouteName, params?: Record<string, string | number>): string {
    return `${this.base}${pathOf(route, params)}`;
  }

  private get<T>(route: RouteName, params?: Record<string, string | number>): Promise<T> {
    return requestJson<T>(this.url(route, params));
  }

  /** POSTs `body` as JSON, with the owner's session when given. */
  post<T>(route: RouteName, body: unknown, params?: Record<string, string | number>, token?: string): Promise<T> {
    return requestJson<T>(this.url(route, params), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  }

  info = (): Promise<InfoView> => this.get('info');
  nonce = (): Promise<NonceView> => this.get('nonce');
  session = (signIn: SignIn): Promise<SessionView> => this.post('session', signIn);
  tasks = (): Promise<TaskView[]> => this.get('tasks');
  task = (id: string): Promise<TaskView> => this.get('task', { id });
  terms = (id: string): Promise<TermsView> => this.get('terms', { id });
  rounds = (id: string): Promise<RoundView[]> => this.get('rounds', { id });
  round = (id: string, round: number): Promise<RoundView> => this.get('round', { id, round });
  accepted = (id: string, round: number): Promise<AcceptedSetView> => this.get('accepted', { id, round });
  modelJson = (id: string, which: ModelRound = 'latest'): Promise<object> => this.get('modelJson', { id, which });
  weights = (id: string, which: ModelRound = 'latest'): Promise<Uint8Array> =>
    requestBytes(this.url('weights', { id, which }));
  circuitFile = (name: string, file: string): Promise<Uint8Array> =>
    requestBytes(this.url('circuitFile', { name, file }));
  audit = (id: string): Promise<AuditBundle> => this.get('audit', { id });
  holder = (address: string): Promise<HolderView> => this.get('holder', { address });
  settlement = (id: string): Promise<SettlementView> => this.get('settlement', { id });

  upload = (token: string, upload: Upload): Promise<UploadView> => this.post('upload', upload, {}, token);
  createTask = (token: string, spec: TaskSpecInput): Promise<TaskView> => this.post('createTask', spec, {}, token);
  cancelTask = (token: string, id: string): Promise<TaskView> => this.post('cancelTask', {}, { id }, token);
}
