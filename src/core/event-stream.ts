import type { ServerResponse } from 'node:http';
import { setImmediate as turnEnd } from 'node:timers/promises';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context } from 'hono';
import type { AppEnv } from './app-env.ts';
import { nodeBindingsOf } from './node-response.ts';

export interface EventStreamOptions {
  /** The data of one last event after the others (OpenAI's `[DONE]`). */
  done?: string;
  /** Headers beside `content-type: text/event-stream`. */
  headers?: Record<string, string>;
}

/** One server-sent event carrying `data` (one line: JSON has no raw line breaks). */
const eventOf = (data: string) => `data: ${data}\n\n`;

/**
 * The data of one event, or of several that are ready together: a producer that has them in
 * groups hands over a group at a time, a promise for the group rather than one per event.
 */
export type EventData = string | readonly string[];

const eventsOf = (data: EventData) =>
  typeof data === 'string' ? eventOf(data) : data.map(eventOf).join('');

/**
 * Answers with server-sent events, each of `events` as one `data:` event (or each of a
 * group, in order) as it comes, with the answer's early headers (the request id, the
 * security and rate-limit headers).
 *
 * Served by Node, the events are written to Node's response as they come. Through a web
 * `ReadableStream` handed to @hono/node-server, every event also cost a read promise and an
 * encoded copy, and before writing the head the server waited a timer's turn for a second
 * event (decision 060). When the client leaves, `events` is ended (its `return()`), as a
 * cancelled stream would be; should it fail, the connection is cut and the error logged.
 * Without Node (`app.request()` in tests) the answer is a `ReadableStream`.
 */
export function eventStreamAnswer<E extends AppEnv>(
  c: Context<E>,
  events: AsyncIterable<EventData>,
  options: EventStreamOptions = {},
): Response {
  const headers = { 'content-type': 'text/event-stream', ...options.headers };
  const outgoing = nodeBindingsOf(c)?.outgoing;
  if (!outgoing || outgoing.headersSent) {
    return c.body(readableEvents(events, options.done), 200, headers);
  }
  outgoing.writeHead(200, headers);
  writeEvents(events, outgoing, options.done).catch((error: unknown) => {
    c.get('logger').error({ err: error }, 'an event stream failed');
    outgoing.destroy();
  });
  // A copy, not the shared one, as the middlewares may still set headers on the answer; and
  // not a `new Response`, which @hono/node-server's own `Response` would write a head for.
  return RESPONSE_ALREADY_SENT.clone();
}

/**
 * Writes each event as it comes; the events produced in one turn of the event loop (from one
 * chunk of an upstream, say) leave together, in one write at the turn's end. Written one by
 * one, each was its own chunk of the chunked answer, with its own framing and bookkeeping in
 * Node's response: 7.5% of a streamed AI gateway call's CPU (decision 066). The end of the
 * answer (with its last event) leaves at the turn's end as well (decision 074), in the write
 * its turn's events were waiting for (decision 081). The turn's end is `setImmediate`: no
 * event waits for a later one, or for a timer.
 */
async function writeEvents(
  events: AsyncIterable<EventData>,
  outgoing: ServerResponse,
  done: string | undefined,
): Promise<void> {
  const iterator = events[Symbol.asyncIterator]();
  let ended = false;
  // What waits for the turn's end; while it holds anything, a flush is scheduled.
  let pending = '';
  // Set once the events have ended while a flush was scheduled: that flush ends the answer.
  let flushed: (() => void) | undefined;
  const flush = () => {
    if (ended) {
      flushed?.();
      return;
    }
    const text = pending;
    pending = '';
    if (text !== '' && !outgoing.writableEnded && !outgoing.destroyed) outgoing.write(text);
  };
  try {
    for (;;) {
      // A client that reads slowly holds the producer back, as one write at a time would.
      if (outgoing.writableNeedDrain) await drainedOrClosed(outgoing);
      const next = await iterator.next();
      if (outgoing.destroyed) return;
      if (next.done) {
        ended = true;
        // The end leaves at the turn's end, with the turn's events in the same write: ended
        // at once, in the middle of the turn's reads, the write cost twice as much CPU
        // (decision 074), and written after them, a second write (decision 080). With
        // events pending, in the turn's end they already wait for, so ahead of what the
        // producer left for the next turn as it ended (an AI call's record and log line),
        // which the client would otherwise wait for (decision 081).
        if (pending !== '') {
          await new Promise<void>((resolve) => {
            flushed = resolve;
          });
        } else {
          await turnEnd();
        }
        const last = pending + (done === undefined ? '' : eventOf(done));
        pending = '';
        if (!outgoing.destroyed) outgoing.end(last === '' ? undefined : last);
        return;
      }
      if (pending === '') setImmediate(flush);
      pending += eventsOf(next.value);
    }
  } finally {
    // The client left: ending the events lets their producer stop and tidy up.
    if (!ended) await iterator.return?.(undefined);
  }
}

function drainedOrClosed(outgoing: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const settle = () => {
      outgoing.off('drain', settle);
      outgoing.off('close', settle);
      resolve();
    };
    outgoing.on('drain', settle);
    outgoing.on('close', settle);
  });
}

/** The same events as a web stream, for an answer no Node response carries. */
function readableEvents(
  events: AsyncIterable<EventData>,
  done: string | undefined,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const iterator = events[Symbol.asyncIterator]();
  let finished = false;
  return new ReadableStream({
    async pull(controller) {
      if (finished) return;
      const next = await iterator.next();
      if (next.done) {
        finished = true;
        if (done !== undefined) controller.enqueue(encoder.encode(eventOf(done)));
        controller.close();
        return;
      }
      controller.enqueue(encoder.encode(eventsOf(next.value)));
    },
    async cancel() {
      await iterator.return?.(undefined);
    },
  });
}
