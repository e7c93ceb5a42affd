/** Starts a coordinator: express REST API and socket.io gateway on one HTTP server. */
import { mkdirSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import express from 'express';
import type { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { createLogger } from '../common/log.js';
import { ClusterRequests, connectRedis, redisAdapter } from './instances/cluster.js';
import { Coordinator } from './coordinator.js';
import { bundleDashboard, dashboardRouter, securityHeaders } from './surface/dashboard.js';
import { attachGateway, type GatewayServer, preAuthFrameBytes, SocketDirectory } from './surface/gateway.js';
import { defaultTaskLimits } from './tasks/limits.js';
import { type CoordinatorOptions, defaultCoordinatorOptions } from './options.js';
import { capHttpConnections, ConnectionsPerIp, defaultRateLimits, RateLimiter } from './surface/rate-limits.js';
import { restRouter } from './surface/rest.js';
import { Authenticator } from './surface/sign-in.js';
import { Storage } from './state/storage.js';
import { attachWatch } from './surface/watch.js';

const log = createLogger('coordinator');

export interface RunningCoordinator {
  coordinator: Coordinator;
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startCoordinator(overrides: Partial<CoordinatorOptions> = {}): Promise<RunningCoordinator> {
  const options = { ...defaultCoordinatorOptions, ...overrides };
  mkdirSync(options.dataDir, { recursive: true });
  const storage = await Storage.open(
    options.database ?? join(options.dataDir, 'coordinator.sqlite'),
    options.rejectionLimits,
  );
  // With Redis, instances share socket.io's rooms, reach one another (coordinator/instances/cluster.ts) and sign-ins.
  const redis = options.redis === undefined ? undefined : connectRedis(options.redis);
  const auth = new Authenticator(options, options.chain?.deployment.chainId ?? 1, redis);
  const rateLimiter = new RateLimiter({ ...defaultRateLimits, ...options.rateLimits });
  const app = express();
  const http = createServer(app);
  capHttpConnections(http, rateLimiter.limits.httpConnectionsPerIp);
  const io = socketServer(http, rateLimiter, redis);
  const directory = new SocketDirectory(io, redis !== undefined);
  const coordinator = new Coordinator(options, directory, storage);
  app.disable('x-powered-by');
  app.use(securityHeaders(options.chain?.publicRpcUrl));
  app.use(dashboardRouter(await bundleDashboard()));
  app.use(
    '/api',
    restRouter({
      coordinator,
      auth,
      rateLimiter,
      maxBodyBytes: options.maxRestBodyBytes,
      maxUploadBytes: options.limits?.evaluationBytes ?? defaultTaskLimits.evaluationBytes,
    }),
  );
  attachGateway(io, { coordinator, directory, auth, rateLimiter, maxPayloadBytes: options.maxPayloadBytes });
  attachWatch(io, coordinator);
  const cluster =
    redis && new ClusterRequests(io, coordinator.instance, (kind, body) => coordinator.handleRequest(kind, body));
  await coordinator.resume(cluster);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, resolve);
  });
  const { port } = http.address() as AddressInfo;
  const url = `http://${options.host}:${port}`;
  auth.serveAt(options.publicUrls ?? [url]);
  log.info(`coordinator listening on ${url}`, { dataDir: options.dataDir });
  return {
    coordinator,
    url,
    port,
    close: async () => {
      await coordinator.close();
      await io.close();
      await auth.close();
      redis?.disconnect();
    },
  };
}

/**
 * The socket server: small frames before sign-in, websockets only, and connections counted per IP address on the
 * raw connection, before any of its packets is read; shared with the other instances through Redis if given.
 */
function socketServer(http: HttpServer, rateLimiter: RateLimiter, redis: Redis | undefined): GatewayServer {
  const connections = new ConnectionsPerIp(rateLimiter.limits.connectionsPerIp);
  const io: GatewayServer = new Server(http, {
    // Before it signs in and joins a task, a connection may send small frames only: a larger one is dropped unread.
    // Joining raises its own limit to what the task's updates need (coordinator/surface/gateway.ts).
    maxHttpBufferSize: preAuthFrameBytes,
    transports: ['websocket'],
    // A connection that does not sign in within this is closed.
    connectTimeout: 10_000,
    allowRequest: (request, answer) => answer(null, connections.room(request.socket.remoteAddress ?? 'unknown')),
    serveClient: false,
    ...(redis ? { adapter: redisAdapter(redis) } : {}),
  });
  io.engine.on('connection', (raw: { remoteAddress: string; once(event: 'close', listener: () => void): void }) => {
    connections.opened(raw.remoteAddress);
    raw.once('close', () => connections.closed(raw.remoteAddress));
  });
  return io;
}
