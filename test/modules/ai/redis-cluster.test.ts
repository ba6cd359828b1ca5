/**
 * The AI gateway on a Redis Cluster (REDIS_CLUSTER=true), two processes' worth of the app on
 * three primaries started here: per-key reservations bind across both, and an answer cached
 * by one is served by the other.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestApiKey, createTestUser } from '../../support/auth.ts';
import { type ClusterProcesses, twoProcessesOnCluster } from '../../support/cluster-processes.ts';
import type { Call } from '../../support/flows.ts';
import { startRedisCluster, type TestRedisCluster } from '../../support/redis-cluster.ts';
import { missingToolReason } from '../../support/system-tools.ts';

let cluster: TestRedisCluster | undefined;
let processes: ClusterProcesses | undefined;

before(async () => {
  cluster = await startRedisCluster();
  if (cluster) processes = await twoProcessesOnCluster(cluster, { AI_REQUESTS_PER_MINUTE: '4' });
});

after(async () => {
  await processes?.close();
  await cluster?.close();
});

test('reservations limit across processes; an answer cached by one is read by the other', async (t) => {
  if (!processes) return t.skip(missingToolReason('redis-server'));
  const { deps, call, callOther } = processes;
  const owner = await createTestUser(deps);
  const apiKey = await createTestApiKey(deps, owner.user, ['ai:chat']);
  const chat = (through: Call, content: string) =>
    through('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'dev-local-echo',
        messages: [{ role: 'user', content }],
        temperature: 0,
      }),
    });
  const first = await chat(call, 'the same question');
  assert.equal(first.status, 200, await first.clone().text());
  assert.equal(first.headers.get('x-ai-cache'), 'miss');
  const again = await chat(callOther, 'the same question');
  assert.equal(again.headers.get('x-ai-cache'), 'hit', 'cached by the other process');
  // AI_REQUESTS_PER_MINUTE=4: reserved across both processes, so the fifth is refused.
  const statuses = [first.status, again.status];
  for (let index = 0; index < 3; index++) {
    statuses.push((await chat(index % 2 === 0 ? call : callOther, `question ${index}`)).status);
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 429]);
});
