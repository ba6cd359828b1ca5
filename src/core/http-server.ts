import type { Server } from 'node:http';
import { type AddressInfo, Server as NetServer } from 'node:net';
import { createAdaptorServer, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { ExitError } from './exit-error.ts';
import { answerMalformedRequests } from './malformed-requests.ts';
import { AnswerResponse } from './node-response.ts';

/**
 * `env` carries @hono/node-server's bindings (`incoming`, `outgoing`): the client's address
 * and the moment the answer is sent are read from them, so they must reach the app.
 */
type Fetch = (request: Request, env?: HttpBindings | Http2Bindings) => Response | Promise<Response>;

export interface HttpServerOptions {
  /** What answers requests; until it is given (here or by `serve`), every request gets 503. */
  fetch?: Fetch;
  host: string;
  port: number;
  /**
   * The settings that chose `host` and `port`, named when the address cannot be used, so the
   * message says what to change: `{ host: 'HOST', port: 'PORT' }`.
   */
  settings?: { host: string; port: string };
  /** Idle keep-alive connections close after this long; headers must arrive a bit sooner. */
  keepAliveTimeoutMs?: number;
}

export interface RunningServer {
  server: Server;
  /** The bound port (useful when listening on port 0). */
  port: number;
  /** Starts answering with `fetch` (for a server that listened before it had one). */
  serve(fetch: Fetch): void;
  /** How many requests have started since it listened. */
  requestsStarted(): number;
  /**
   * Stops accepting connections, lets requests in flight finish, then closes what is left
   * once `timeoutMs` has passed. Resolves when no connection remains.
   */
  drain(timeoutMs: number): Promise<void>;
}

/** Not serving yet: the process is still starting. */
const starting: Fetch = () =>
  new Response(null, { status: 503, headers: { 'retry-after': '1', 'cache-control': 'no-store' } });

/**
 * A listen failure the person starting the process can fix, said in one line that names the
 * setting to change; anything else is left as it is.
 */
function listenError(error: unknown, options: HttpServerOptions): unknown {
  const code = error instanceof Error && 'code' in error ? error.code : undefined;
  const { host, port } = options;
  const names = options.settings ?? { host: 'host', port: 'port' };
  switch (code) {
    case 'EADDRINUSE':
      return new ExitError(
        `${names.port}: ${host}:${port} is already in use; set ${names.port} to a free port`,
      );
    case 'EACCES':
      return new ExitError(
        `${names.port}: not allowed to listen on ${host}:${port}; set ${names.port} to a port above 1023`,
      );
    case 'EADDRNOTAVAIL':
      return new ExitError(
        `${names.host}: ${host} is not an address of this machine; set ${names.host} to one (127.0.0.1, or 0.0.0.0 for all)`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ExitError(
        `${names.host}: cannot resolve ${host}; set ${names.host} to an address`,
      );
    default:
      return error;
  }
}

/**
 * Starts an HTTP server and resolves once it listens. Given no `fetch`, it holds the port
 * and answers 503 until `serve`: a process that binds first stops at once when its port is
 * taken, before it opens anything else.
 */
export async function listen(options: HttpServerOptions): Promise<RunningServer> {
  let handler = options.fetch ?? starting;
  const server = createAdaptorServer({
    fetch: (request, env) => handler(request, env),
    serverOptions: { ServerResponse: AnswerResponse },
  }) as Server;
  if (options.keepAliveTimeoutMs) {
    server.keepAliveTimeout = options.keepAliveTimeoutMs;
    // Must exceed keepAliveTimeout, or Node can drop a request arriving on an idle socket.
    server.headersTimeout = options.keepAliveTimeoutMs + 1_000;
  }
  answerMalformedRequests(server);
  let draining = false;
  let started = 0;
  // While draining, tell keep-alive clients to reconnect elsewhere: a socket closed under a
  // client about to reuse it would fail that client's next request.
  server.prependListener('request', (_request, response) => {
    started++;
    if (draining) response.setHeader('connection', 'close');
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (error: unknown) => reject(listenError(error, options));
    server.once('error', fail);
    server.listen(options.port, options.host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    serve(fetch) {
      handler = fetch;
    },
    requestsStarted: () => started,
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
