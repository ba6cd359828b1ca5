import { z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { IdParams } from '../../core/ids.ts';
import { FINAL_EVENTS, type JobEvent } from '../../core/jobs/job-events.ts';
import type { JobStatus } from '../../core/jobs/job-queue.ts';
import { ProblemError } from '../../core/problem.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import type { Principal } from '../../core/security/principal.ts';
import type { Deps } from '../../deps.ts';

const exampleJob = {
  id: '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e',
  name: 'exports.generate',
  state: 'active' as const,
  progress: 40,
  attempts: 1,
  maxAttempts: 3,
  result: null,
  error: null,
  createdAt: new Date('2026-01-01T12:00:00Z'),
  startedAt: new Date('2026-01-01T12:00:01Z'),
  finishedAt: null,
};

export const JobPublic = z
  .object({
    id: z.uuid(),
    name: z.string(),
    state: z.enum(['queued', 'active', 'retrying', 'completed', 'failed', 'cancelled']),
    progress: z.number().int().min(0).max(100),
    attempts: z.number().int(),
    maxAttempts: z.number().int(),
    result: z.unknown().openapi({ description: 'What the job returned, once completed.' }),
    error: z.string().nullable(),
    createdAt: z.coerce.date(),
    startedAt: z.coerce.date().nullable(),
    finishedAt: z.coerce.date().nullable(),
  })
  .openapi('Job', { example: exampleJob });

const LastEventIdHeaders = z.object({
  'last-event-id': z.string().max(64).optional().openapi({
    description: 'Resume after this event (browsers send it when reconnecting).',
    example: '1764000000000-0',
  }),
});

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

const notFound = () => new ProblemError(404, { detail: 'No such job' });

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
        throw new ProblemError(409, {
          detail:
            outcome === 'started' ? 'The job has already started' : 'The job has already finished',
        });
      }
      return c.body(null, 204);
    });
}
