import { z } from '@hono/zod-openapi';
import type { Deps } from '../../core/deps.ts';
import { purgeIdempotencyKeys } from '../../core/idempotency/idempotency.ts';
import { defineJob, type JobContext } from '../../core/jobs/define-job.ts';
import { purgeRefreshTokens } from '../auth/auth.service.ts';
import { purgeExpiredExports } from '../exports/exports.service.ts';

/** Hourly clean-up of what has expired: refresh tokens, idempotency keys, old exports. */
export const purgeExpired = defineJob({
  name: 'maintenance.purge',
  input: z.object({}),
  schedule: { pattern: '17 * * * *' },
  attempts: 2,
  concurrency: 1,
  async run(_input, { deps, logger }: JobContext<Deps>) {
    const now = deps.clock.now();
    const purged = {
      refreshTokens: await purgeRefreshTokens(deps.db, now),
      idempotencyKeys: await purgeIdempotencyKeys(deps.db, now),
      exports: await purgeExpiredExports(deps.db, deps.storage, now),
    };
    logger.info(purged, 'purged expired records');
    return purged;
  },
});
