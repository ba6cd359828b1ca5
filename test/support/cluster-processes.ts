/**
 * Two processes' worth of the app on one Redis Cluster, the same database and key prefix:
 * what replicas share, for tests of state held in Redis across processes.
 *
 * @example
 * const cluster = await startRedisCluster();
 * if (!cluster) return t.skip(missingToolReason('redis-server'));
 * const pair = await twoProcessesOnCluster(cluster, { AI_REQUESTS_PER_MINUTE: '4' });
 * after(() => pair.close());
 * await pair.call('/livez'); await pair.callOther('/livez');
 */
import { createApp } from '../../src/app.ts';
import { parseSettings } from '../../src/core/settings.ts';
import { createDeps, type OwnedDeps } from '../../src/deps.ts';
import { createTestDeps, type TestDeps } from './deps.ts';
import type { Call } from './flows.ts';
import type { TestRedisCluster } from './redis-cluster.ts';

export interface ClusterProcesses {
  deps: TestDeps;
  /** The second process's dependencies. */
  other: OwnedDeps;
  call: Call;
  callOther: Call;
  /** Closes both (not the cluster). */
  close(): Promise<void>;
}

export async function twoProcessesOnCluster(
  cluster: TestRedisCluster,
  settings: Record<string, string> = {},
): Promise<ClusterProcesses> {
  const env = { REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', ...settings };
  const deps = await createTestDeps({ env });
  const other = await createDeps(
    parseSettings({
      NODE_ENV: 'test',
      DATABASE_URL: deps.settings.DATABASE_URL,
      REDIS_KEY_PREFIX: deps.redisPrefix,
      LOG_LEVEL: 'silent',
      MIGRATE_ON_START: 'false',
      DATABASE_POOL_MAX: '3',
      ...env,
    }),
  ).catch(async (error: unknown) => {
    await deps.close();
    throw error;
  });
  const app = createApp(deps);
  const otherApp = createApp(other);
  return {
    deps,
    other,
    call: async (path, init) => app.request(path, init),
    callOther: async (path, init) => otherApp.request(path, init),
    async close() {
      await other.close();
      await deps.close();
    },
  };
}
