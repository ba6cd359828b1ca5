/**
 * A worker process for the fault tests: built like `src/worker.ts` (same settings, deps and
 * shutdown), but running the test jobs of `test-jobs.ts` instead of the registry's.
 *
 *   node --import type { Deps } from '../src/core/deps.ts';
import ./src/preload.ts test/support/test-worker.ts
 */

import type { Deps } from '../../src/core/deps.ts';
import { onShutdownSignal, runMain } from '../../src/core/main.ts';
import { loadSettings } from '../../src/core/settings.ts';
import { createDeps } from '../../src/deps.ts';
import { TEST_JOBS, testJobQueue } from './test-jobs.ts';

runMain(async () => {
  const settings = loadSettings();
  const deps = await createDeps(settings);
  const jobs = testJobQueue(deps);
  const worker = await jobs.startWorker<Deps>(TEST_JOBS, { ...deps, jobs });
  deps.logger.info({ jobs: TEST_JOBS.map((job) => job.name) }, 'test worker running');
  onShutdownSignal(async (signal) => {
    deps.logger.info({ signal }, 'shutting down: finishing active jobs');
    deps.beginShutdown();
    await worker.close(settings.WORKER_SHUTDOWN_TIMEOUT_MS);
    deps.logger.info('workers closed');
    await jobs.close();
    await deps.close();
  });
});
