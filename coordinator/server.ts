/** Starts a coordinator: express REST API and socket.io gateway on one HTTP server. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Server } from 'socket.io';
import { createLogger } from '../common/log.js';
import { Coordinator } from './coordinator.js';
import { attachGateway, type GatewayServer, SocketDirectory } from './gateway.js';
import { NonceStore } from './nonces.js';
import { type CoordinatorOptions, defaultCoordinatorOptions } from './options.js';
import { restRouter } from './rest.js';

const log = createLogger('coordinator');

export interface RunningCoordinator {
  coordinator: Coordinator;
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startCoordinator(overrides: Partial<CoordinatorOptions> = {}): Promise<RunningCoordinator> {
  const options = { ...defaultCoordinatorOptions, ...overrides };
  const directory = new SocketDirectory();
  const coordinator = new Coordinator(options, directory);
  const nonces = new NonceStore(options.nonceTtlSeconds * 1000);
  const app = express();
  app.disable('x-powered-by');
  app.use('/api', restRouter(coordinator, nonces, options.maxRestBodyBytes));
  const http = createServer(app);
  const io: GatewayServer = new Server(http, {
    // Updates up to maxPayloadBytes are parsed and, if too large, refused with PAYLOAD_TOO_LARGE; beyond twice
    // that socket.io drops the connection before parsing, to bound memory.
    maxHttpBufferSize: 2 * options.maxPayloadBytes,
    serveClient: false,
  });
  attachGateway(io, coordinator, directory, nonces, options.maxPayloadBytes);
  await coordinator.resume();
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, resolve);
  });
  const { port } = http.address() as AddressInfo;
  const url = `http://${options.host}:${port}`;
  log.info(`coordinator listening on ${url}`, { dataDir: options.dataDir });
  return {
    coordinator,
    url,
    port,
    close: async () => {
      await coordinator.close();
      await io.close();
    },
  };
}
