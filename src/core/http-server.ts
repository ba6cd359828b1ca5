import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';

export interface HttpServerOptions {
  fetch: (request: Request) => Response | Promise<Response>;
  host: string;
  port: number;
}

export interface RunningServer {
  server: Server;
  /** The bound port (useful when listening on port 0). */
  port: number;
  /**
   * Stops accepting connections, lets requests in flight finish, then closes what is left
   * once `timeoutMs` has passed. Resolves when no connection remains.
   */
  drain(timeoutMs: number): Promise<void>;
}

/** Starts an HTTP server for `fetch` and resolves once it listens. */
export async function listen(options: HttpServerOptions): Promise<RunningServer> {
  const server = createAdaptorServer({ fetch: options.fetch }) as Server;
  let draining = false;
  // While draining, tell keep-alive clients to reconnect elsewhere: a socket closed under a
  // client about to reuse it would fail that client's next request.
  server.prependListener('request', (_request, response) => {
    if (draining) response.setHeader('connection', 'close');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    drain(timeoutMs) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
      const deadline = setTimeout(() => server.closeAllConnections(), timeoutMs);
      return closed.finally(() => {
        clearInterval(idleSweep);
        clearTimeout(deadline);
      });
    },
  };
}
