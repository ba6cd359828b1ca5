import type { Server } from 'node:http';
import { type AddressInfo, Server as NetServer } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';

export interface HttpServerOptions {
  fetch: (request: Request) => Response | Promise<Response>;
  host: string;
  port: number;
  /** Idle keep-alive connections close after this long; headers must arrive a bit sooner. */
  keepAliveTimeoutMs?: number;
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
  if (options.keepAliveTimeoutMs) {
    server.keepAliveTimeout = options.keepAliveTimeoutMs;
    // Must exceed keepAliveTimeout, or Node can drop a request arriving on an idle socket.
    server.headersTimeout = options.keepAliveTimeoutMs + 1_000;
  }
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
      // net.Server's close only stops accepting. http.Server's also closes idle keep-alive
      // sockets at once, which resets a request a client is sending on one at that moment.
      const closed = new Promise<void>((resolve) =>
        NetServer.prototype.close.call(server, () => resolve()),
      );
      // Busy clients get `connection: close` on their next answer; a socket still idle after
      // the grace period belongs to a client that is not sending.
      let idleSweep: NodeJS.Timeout | undefined;
      const grace = setTimeout(
        () => {
          server.closeIdleConnections();
          idleSweep = setInterval(() => server.closeIdleConnections(), 100);
        },
        Math.min(1_000, timeoutMs / 2),
      );
      const deadline = setTimeout(() => server.closeAllConnections(), timeoutMs);
      return closed.finally(() => {
        clearTimeout(grace);
        clearInterval(idleSweep);
        clearTimeout(deadline);
      });
    },
  };
}
