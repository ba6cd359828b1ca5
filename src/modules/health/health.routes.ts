import type { Deps } from '../../core/deps.ts';
import { ProblemError } from '../../core/problem.ts';
import { defineRoute, jsonResponse } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import { LivenessSchema, ReadinessSchema } from './health.schemas.ts';
import { checkReadiness } from './health.service.ts';

export const livez = defineRoute({
  method: 'get',
  path: '/livez',
  operationId: 'getLiveness',
  summary: 'Liveness probe',
  description: 'Answers as long as the process can serve HTTP; it checks no dependency.',
  tags: ['health'],
  // Load balancers and orchestrators call these without end; they cost next to nothing.
  rateLimit: false,
  responses: { 200: jsonResponse(LivenessSchema, 'The process is alive') },
});

export const readyz = defineRoute({
  method: 'get',
  path: '/readyz',
  operationId: 'getReadiness',
  summary: 'Readiness probe',
  description:
    'Checks every configured dependency (database, Redis) within a short timeout. 503 names the failing checks, and is also returned while the process shuts down.',
  tags: ['health'],
  // Load balancers and orchestrators call these without end; they cost next to nothing.
  rateLimit: false,
  responses: { 200: jsonResponse(ReadinessSchema, 'Every dependency answered') },
});

/** Probes for orchestrators: `/livez` (restart me if this fails) and `/readyz` (route to me). */
export function healthRoutes(deps: Deps) {
  return createRouter()
    .openapi(livez, (c) => c.json({ status: 'ok' as const }, 200))
    .openapi(readyz, async (c) => {
      c.header('cache-control', 'no-store');
      if (deps.shutdown.aborted) {
        throw new ProblemError(503, {
          detail: 'The process is shutting down',
          headers: { 'cache-control': 'no-store' },
        });
      }
      const checks = await checkReadiness(deps);
      const failing = Object.keys(checks).filter((name) => checks[name]?.status !== 'ok');
      if (failing.length > 0) {
        throw new ProblemError(503, {
          detail: `Not ready: ${failing.join(', ')} failed`,
          headers: { 'cache-control': 'no-store' },
          extensions: { checks },
        });
      }
      return c.json({ status: 'ok' as const, checks }, 200);
    });
}
