import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROBLEM_CONTENT_TYPE, statusTitle } from './problem.ts';

/** Node's parser errors worth their own status; anything else it refuses is a 400. */
const STATUS_BY_CODE: Record<string, number> = {
  // The request line and headers together exceed Node's limit (16 kB): a huge URL too.
  HPE_HEADER_OVERFLOW: 431,
  HPE_REQUEST_TIMEOUT: 408,
};

const DETAIL_BY_STATUS: Record<number, string> = {
  400: 'The request is not valid HTTP/1.1 (a malformed request line, header or body framing)',
  408: 'The request headers did not arrive in time',
  431: 'The request line and headers are too large (16 kB at most): send long values in the body',
};

/**
 * Requests Node refuses before the app sees them (malformed HTTP, a URL or headers past its
 * size limit) get a problem document too, as every other refusal does, instead of Node's
 * empty `400 Bad Request`. The connection is closed after it: the stream cannot be trusted.
 */
export function answerMalformedRequests(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = STATUS_BY_CODE[error.code ?? ''] ?? 400;
    const body = JSON.stringify({
      type: 'about:blank',
      title: statusTitle(status),
      status,
      detail: DETAIL_BY_STATUS[status],
    });
    socket.end(
      [
        `HTTP/1.1 ${status} ${statusTitle(status)}`,
        `content-type: ${PROBLEM_CONTENT_TYPE}`,
        `content-length: ${Buffer.byteLength(body)}`,
        'x-content-type-options: nosniff',
        'cache-control: no-store',
        'connection: close',
        '',
        body,
      ].join('\r\n'),
    );
  });
}
