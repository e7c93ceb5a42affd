/** The REST shell: parse the request, call the coordinator, send JSON or a coded error. */
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response, Router } from 'express';
import { createLogger } from '../../common/log.js';
import { type RouteName, routes } from '../../protocol/api.js';
import { errorStatus, toErrorBody, ZkflError } from '../../common/errors.js';
import type { Coordinator } from '../coordinator.js';
import { RateLimitedError, type RateLimiter } from './rate-limits.js';
import { streamJson } from './stream-json.js';
import type { Authenticator } from './sign-in.js';

const log = createLogger('rest');

function roundParam(value: string | undefined, name: string): number {
  const round = Number(value);
  if (!Number.isInteger(round) || round < 0)
    throw new ZkflError('VALIDATION_FAILED', `${name} must be a whole number`, name);
  return round;
}

function roundInPath(which: string | undefined): number | undefined {
  return which === 'latest' ? undefined : roundParam(which, 'round');
}

/** A route's path under the router's mount point, `/api`, keeping its literal type (express types the params). */
type Mounted<P> = P extends `/api${infer Rest}` ? Rest : never;
const at = <N extends RouteName>(name: N): Mounted<(typeof routes)[N]['path']> =>
  routes[name].path.slice('/api'.length) as Mounted<(typeof routes)[N]['path']>;

export interface RestContext {
  coordinator: Coordinator;
  auth: Authenticator;
  rateLimiter: RateLimiter;
  maxBodyBytes: number;
  maxUploadBytes: number;
}

export function restRouter(context: RestContext): Router {
  const router = Router();
  serviceRoutes(router, context);
  signInRoutes(router, context);
  ownerRoutes(router, context);
  taskRoutes(router, context.coordinator);
  router.use((req, _res, next) => next(new ZkflError('NOT_FOUND', `no route ${req.method} ${req.originalUrl}`)));
  router.use(errorHandler);
  return router;
}

const ip = (req: Request): string => req.ip ?? 'unknown';

/** Public and read-only: health, identity, proving artifacts, and what `zkfl verify` checks a run against. */
function serviceRoutes(router: Router, { coordinator, rateLimiter }: RestContext): void {
  router.get(at('health'), (_req, res) => void res.json({ ok: true }));
  router.get(at('info'), (_req, res) => void res.json(coordinator.info()));
  // Proving artifacts for clients without the coordinator's keys; they check them against the task's key hash.
  router.get(at('circuitFile'), (req, res) =>
    // The build directory is under .zkfl/: a dotted path that `send` would refuse by default.
    res.sendFile(coordinator.circuitFile(req.params.name, req.params.file), { dotfiles: 'allow' }),
  );
  router.get(at('audit'), async (req, res) => {
    const release = rateLimiter.openAuditStream(ip(req));
    try {
      await streamJson(res, coordinator.auditJson(req.params.id));
    } finally {
      release();
    }
  });
  router.get(at('holder'), async (req, res) => void res.json(await coordinator.holder(req.params.address)));
  router.get(at('settlement'), async (req, res) => void res.json(await coordinator.settlementOf(req.params.id)));
}

/** Sign-In with Ethereum: a nonce, then a session for the signed message, each within its rate limits. */
function signInRoutes(router: Router, { auth, rateLimiter, maxBodyBytes }: RestContext): void {
  router.get(at('nonce'), async (req, res) => {
    await rateLimiter.take('nonces', ip(req));
    res.json(await auth.nonce());
  });
  router.post(at('session'), express.json({ limit: maxBodyBytes }), async (req, res) => {
    await rateLimiter.take('sign-ins', ip(req));
    const session = await auth.openSession(req.body);
    await rateLimiter.take('sign-ins', session.address);
    res.status(201).json(session);
  });
}

/** What only a signed-in owner may do: upload evaluation data, create and cancel tasks. */
function ownerRoutes(
  router: Router,
  { coordinator, auth, rateLimiter, maxBodyBytes, maxUploadBytes }: RestContext,
): void {
  /** The signed-in owner (in `res.locals.owner`), counted against the creation rate limit, before the body is read. */
  const owner: RequestHandler = async (req, res, next) => {
    const address = await auth.sessionOwner(req.get('authorization'));
    res.locals['owner'] = address;
    await rateLimiter.take('creations', ip(req), address);
    next();
  };
  // Uploads are larger than other bodies: base64 of up to maxUploadBytes.
  const uploadJson = express.json({ limit: Math.ceil((maxUploadBytes * 4) / 3) + 4096 });
  router.post(at('upload'), owner, uploadJson, async (req, res) => {
    res.status(201).json(await coordinator.upload(req.body, res.locals['owner'] as string));
  });
  router.post(at('createTask'), owner, express.json({ limit: maxBodyBytes }), async (req: Request, res: Response) => {
    res.status(201).json(await coordinator.createTask(req.body, res.locals['owner'] as string));
  });
  router.post(at('cancelTask'), owner, async (req: Request<{ id: string }>, res: Response) => {
    res.json(await coordinator.cancelTask(req.params.id, res.locals['owner'] as string));
  });
}

/** Tasks, their terms and rounds, and their models: public and read-only. */
function taskRoutes(router: Router, coordinator: Coordinator): void {
  router.get(at('tasks'), async (_req, res) => streamJson(res, coordinator.tasksJson()));
  router.get(at('task'), async (req, res) => void res.json(await coordinator.getTask(req.params.id)));
  router.get(at('terms'), async (req, res) => void res.json(await coordinator.terms(req.params.id)));
  router.get(at('rounds'), async (req, res) => streamJson(res, coordinator.roundsJson(req.params.id)));
  router.get(at('round'), async (req, res) => {
    res.json(await coordinator.getRound(req.params.id, roundParam(req.params.round, 'round')));
  });
  router.get(at('accepted'), async (req, res) => {
    res.json(await coordinator.acceptedSet(req.params.id, roundParam(req.params.round, 'round')));
  });
  router.get(at('modelJson'), async (req, res) => {
    // The topology is the same for every round; the round is in the path so that weights.bin resolves beside it.
    await coordinator.modelRound(req.params.id, roundInPath(req.params.which));
    res.json(await coordinator.modelJson(req.params.id));
  });
  router.get(at('weights'), async (req, res) => {
    const weights = await coordinator.modelWeights(req.params.id, roundInPath(req.params.which));
    res.type('application/octet-stream').send(Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength));
  });
}

const errorHandler: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
  const parserError = error as { type?: string; status?: number };
  if (parserError.status === 400 && error instanceof URIError) {
    // A path that does not decode (`%ZZ`): the request's fault, like any other malformed input.
    res.status(400).json({ code: 'VALIDATION_FAILED', message: 'the request path is not a valid URL' });
  } else if (parserError.type === 'entity.too.large') {
    res.status(413).json({ code: 'PAYLOAD_TOO_LARGE', message: 'request body too large' });
  } else if (parserError.type === 'entity.parse.failed') {
    res.status(400).json({ code: 'MALFORMED_PAYLOAD', message: 'request body is not valid JSON' });
  } else {
    if (error instanceof RateLimitedError) res.set('retry-after', String(error.retryAfterSeconds));
    const body = toErrorBody(error);
    // The client learns only that it failed; the operator needs why.
    if (body.code === 'INTERNAL') log.error('request failed', { error: (error as Error).stack ?? String(error) });
    res.status(errorStatus[body.code]).json(body);
  }
};
