import { z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { Deps } from '../../core/deps.ts';
import { ConflictError, NotFoundError } from '../../core/domain-errors.ts';
import { IdParams } from '../../core/ids.ts';
import { FINAL_EVENTS, type JobEvent } from '../../core/jobs/job-events.ts';
import type { JobStatus } from '../../core/jobs/job-queue.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import type { Principal } from '../../core/security/principal.ts';
import { JobPublic, LastEventIdHeaders } from './jobs.schemas.ts';

export const getJobRoute = defineRoute({
  method: 'get',
  path: '/v1/jobs/{id}',
  operationId: 'getJob',
  summary: 'Get a job’s state',
  description:
    'State, progress, tries, result or error and timestamps. Yours, or any for an administrator.',
  tags: ['jobs'],
  auth: { scopes: [] },
  request: { params: IdParams },
  responses: { 200: jsonResponse(JobPublic, 'The job'), ...problemResponses(404) },
});

export const jobEventsRoute = defineRoute({
  method: 'get',
  path: '/v1/jobs/{id}/events',
  operationId: 'streamJobEvents',
  summary: 'Follow a job live (server-sent events)',
  description: [
    'A `text/event-stream` of the job’s history and then its changes: `queued`, `active`, `progress` (`{"progress": 40}`), `retrying`, and one final `completed`, `failed` or `cancelled`, after which the stream ends.',
    'Each event has an `id`; reconnect with `Last-Event-ID` to resume after it. Idle streams carry a heartbeat comment.',
  ].join(' '),
  tags: ['jobs'],
  auth: { scopes: [] },
  request: { params: IdParams, headers: LastEventIdHeaders },
  responses: {
    200: {
      description: 'The event stream',
      content: {
        'text/event-stream': {
          schema: z.string().openapi({
            example: 'id: 1764000000000-0\nevent: progress\ndata: {"progress":40}\n\n',
          }),
        },
      },
    },
    ...problemResponses(404),
  },
});

export const cancelJobRoute = defineRoute({
  method: 'delete',
  path: '/v1/jobs/{id}',
  operationId: 'cancelJob',
  summary: 'Cancel a job that has not started',
  description:
    'Removes a job of yours that is still queued; one already running or finished is 409.',
  tags: ['jobs'],
  auth: { scopes: [] },
  request: { params: IdParams },
  responses: { 204: { description: 'Cancelled' }, ...problemResponses(404, 409) },
});

function toPublicJob(job: JobStatus) {
  const { ownerId: _owner, ...visible } = job;
  return visible;
}

function visibleTo(job: JobStatus | undefined, principal: Principal): job is JobStatus {
  return job !== undefined && (job.ownerId === principal.userId || principal.role === 'admin');
}

const notFound = () => new NotFoundError('job');

/** The final event a finished job's state implies, for when its recorded history expired. */
function finalEventOf(job: JobStatus | undefined): Pick<JobEvent, 'type' | 'data'> {
  if (job?.state === 'completed') return { type: 'completed', data: { result: job.result } };
  if (job?.state === 'cancelled') return { type: 'cancelled', data: {} };
  return { type: 'failed', data: { error: job?.error ?? 'The job no longer exists' } };
}

/** Job status, a live event stream, and cancellation, whichever process runs the job. */
export function jobRoutes(deps: Deps) {
  return createRouter()
    .openapi(getJobRoute, async (c) => {
      const job = await deps.jobs.get(c.req.valid('param').id);
      if (!visibleTo(job, c.get('principal'))) throw notFound();
      c.header('cache-control', 'no-store');
      return sendJson(c, JobPublic, toPublicJob(job), 200);
    })
    .openapi(jobEventsRoute, async (c) => {
      const { id } = c.req.valid('param');
      const first = await deps.jobs.get(id);
      if (!visibleTo(first, c.get('principal'))) throw notFound();
      const resumeAfter = c.req.valid('header')['last-event-id'];
      return streamSSE(c, async (stream) => {
        const stop = new AbortController();
        stream.onAbort(() => stop.abort());
        const signal = AbortSignal.any([stop.signal, deps.shutdown]);
        let lastId = resumeAfter && /^[\d-]{1,40}$/.test(resumeAfter) ? resumeAfter : undefined;
        const send = async (event: JobEvent) => {
          await stream.writeSSE({
            id: event.id,
            event: event.type,
            data: JSON.stringify(event.data),
          });
          lastId = event.id;
        };
        let endedWhileIdle = false;
        while (!signal.aborted) {
          const events = await deps.jobs.events.wait(
            id,
            lastId,
            deps.settings.SSE_HEARTBEAT_MS,
            signal,
          );
          for (const event of events) {
            await send(event);
            if (FINAL_EVENTS.has(event.type)) return;
          }
          if (events.length > 0 || signal.aborted) continue;
          // Idle: the job may have ended long ago, its history expired. Then say so and end.
          const job = await deps.jobs.get(id);
          const ended = !job || ['completed', 'failed', 'cancelled'].includes(job.state);
          // A worker records the final event just after the state changes: only a job still
          // ended and silent one round later has lost its history.
          if (ended && endedWhileIdle) {
            // No id: there is nothing after it to resume from.
            const { type, data } = finalEventOf(job);
            await stream.writeSSE({ event: type, data: JSON.stringify(data) });
            return;
          }
          endedWhileIdle = ended;
          await stream.write(': heartbeat\n\n');
        }
      });
    })
    .openapi(cancelJobRoute, async (c) => {
      const { id } = c.req.valid('param');
      if (!visibleTo(await deps.jobs.get(id), c.get('principal'))) throw notFound();
      const outcome = await deps.jobs.cancel(id);
      if (outcome === 'missing') throw notFound();
      if (outcome !== 'cancelled') {
        throw new ConflictError(
          outcome === 'started' ? 'The job has already started' : 'The job has already finished',
        );
      }
      return c.body(null, 204);
    });
}
