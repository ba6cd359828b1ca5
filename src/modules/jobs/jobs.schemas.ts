import { z } from '@hono/zod-openapi';
import { ResponseInstant } from '../../core/instant-schema.ts';

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
    createdAt: ResponseInstant,
    startedAt: ResponseInstant.nullable(),
    finishedAt: ResponseInstant.nullable(),
  })
  .openapi('Job', { example: exampleJob });

export const LastEventIdHeaders = z.object({
  'last-event-id': z.string().max(64).optional().openapi({
    description: 'Resume after this event (browsers send it when reconnecting).',
    example: '1764000000000-0',
  }),
});
