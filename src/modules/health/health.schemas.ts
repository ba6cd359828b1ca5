import { z } from '@hono/zod-openapi';

export const CheckResultSchema = z
  .object({
    status: z.enum(['ok', 'failed']),
    durationMs: z.number().int().nonnegative(),
    error: z.string().optional(),
  })
  .openapi('CheckResult');

export const LivenessSchema = z
  .object({ status: z.literal('ok') })
  .openapi('Liveness', { example: { status: 'ok' } });

export const ReadinessSchema = z
  .object({
    status: z.literal('ok'),
    checks: z.record(z.string(), CheckResultSchema),
  })
  .openapi('Readiness', {
    example: {
      status: 'ok',
      checks: { database: { status: 'ok', durationMs: 1 }, redis: { status: 'ok', durationMs: 0 } },
    },
  });
