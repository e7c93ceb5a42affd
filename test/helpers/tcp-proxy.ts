/** A TCP proxy that can be taken down and brought back on the same port: a chain RPC outage, for real. */
import { createServer, type Server, type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { stopAfter } from './cleanup.js';

export interface TcpProxy {
  url: string;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/** A proxy to `target` on `port` (any free one by default). */
export async function tcpProxy(target: URL, port = 0): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async (): Promise<void> => {
    server = createServer((inbound) => {
      const outbound = connect(Number(target.port), target.hostname);
      for (const socket of [inbound, outbound]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  const down = async (): Promise<void> => {
    // No new connection first, then none of those open: close waits for every one of them to end.
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
    server = undefined;
  };
  await listen();
  return { url: `http://127.0.0.1:${port}`, down, up: listen, close: stopAfter('file', down) };
}

/**
 * A failover load balancer, as deployments put in front of several coordinator instances: each connection goes to
 * the first target that accepts it, so clients land on the first instance while it lives and on the next after.
 */
export async function failoverProxy(targets: URL[], port = 0): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = createServer((inbound) => {
    track(inbound);
    inbound.pause();
    const attempt = (index: number): void => {
      const target = targets[index];
      if (!target) return void inbound.destroy();
      const outbound = connect(Number(target.port), target.hostname);
      outbound.once('error', () => attempt(index + 1));
      outbound.once('connect', () => {
        track(outbound);
        inbound.pipe(outbound).pipe(inbound);
        inbound.resume();
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: stopAfter('file', async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    }),
  };
}
