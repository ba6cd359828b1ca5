/**
 * Export and import end to end, across two real processes: the API (`src/server.ts`) and a
 * worker (`src/worker.ts`), sharing only PostgreSQL and Redis. 10,000 items go out as a CSV
 * file, streamed to the client without the API holding the file, and 10,000 come back in.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { count, eq } from 'drizzle-orm';
import { parseCsv } from '../../../src/core/csv.ts';
import { uuidv7 } from '../../../src/core/ids.ts';
import { CSV_COLUMNS } from '../../../src/modules/exports/exports.jobs.ts';
import { items } from '../../../src/modules/items/items.table.ts';
import { createTestUser, type TestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';
import { followJobOverHttp, readSse } from '../../support/jobs.ts';
import {
  type ApiProcess,
  depsEnv,
  killAllServices,
  type ServiceProcess,
  spawnService,
  startApi,
  watchResidentMemory,
} from '../../support/processes.ts';

const ITEMS = 10_000;
/** The most the API's resident memory may grow while serving the download. */
const RSS_GROWTH_BOUND = 60 * 1024 * 1024;

let deps: TestDeps;
let api: ApiProcess;
let worker: ServiceProcess;

before(async () => {
  deps = await createTestDeps();
  const env = { ...depsEnv(deps), JWT_SECRET: deps.settings.JWT_SECRET };
  worker = spawnService('src/worker.ts', env);
  api = await startApi(env);
  await worker.waitForRecord('the worker to run', (record) => record.msg === 'worker running');
});
after(async () => {
  for (const service of [api, worker]) service?.child.kill('SIGTERM');
  const exits = await Promise.all([api?.exited, worker?.exited]);
  await killAllServices();
  await deps.close();
  for (const [index, exit] of exits.entries()) {
    assert.deepEqual([exit?.code, exit?.signal], [0, null], [api, worker][index]?.stderr());
  }
});

/** `fetch` to the API; a failure says how the API process is doing. */
async function call(path: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(`${api.base}${path}`, init);
  } catch (error) {
    const state = api.child.exitCode ?? api.child.signalCode ?? 'running';
    const tail = api.stdout().split('\n').slice(-6).join('\n');
    throw new Error(
      `${init.method ?? 'GET'} ${path} failed (${String(error)}, cause ${String((error as Error).cause)}); API ${state}\n${api.stderr()}\n${tail}`,
    );
  }
}

function followByPolling(who: TestUser, jobId: string) {
  return followJobOverHttp<{ state: string; result: unknown; error: string | null }>(
    (path) => call(path, { headers: who.headers }),
    jobId,
    { timeoutMs: 180_000, intervalMs: 200 },
  );
}

test('10,000 items: exported as CSV through two processes, then imported back', async (t) => {
  const ada = await createTestUser(deps);
  const bob = await createTestUser(deps);

  // Seed, in bulk.
  const description = 'A sturdy thing, "quoted", with commas; '.repeat(8);
  const seeded = new Set<string>();
  for (let start = 0; start < ITEMS; start += 1_000) {
    const rows = Array.from({ length: 1_000 }, (_, offset) => {
      const id = uuidv7();
      seeded.add(id);
      return {
        id,
        ownerId: ada.user.id,
        name: `Item ${start + offset}`,
        description,
        price: `${(start + offset) % 1000}.${String((start + offset) % 100).padStart(2, '0')}`,
        tags: ['bulk', `group-${(start + offset) % 7}`],
      };
    });
    await deps.db.insert(items).values(rows);
  }

  // Export through the API; the worker process writes the file.
  const created = await call('/v1/exports', {
    method: 'POST',
    headers: { ...ada.headers, 'content-type': 'application/json' },
    body: JSON.stringify({ format: 'csv' }),
  });
  assert.equal(created.status, 202, await created.clone().text());
  const accepted = (await created.json()) as { jobId: string; download: string };

  // Followed live over server-sent events, to the end of the stream.
  const stream = await call(`/v1/jobs/${accepted.jobId}/events`, { headers: ada.headers });
  assert.equal(stream.status, 200);
  assert.ok(stream.body);
  const seen: string[] = [];
  let final: { event: string; data: string } | undefined;
  for await (const message of readSse(stream.body)) {
    if (message.kind !== 'event') continue;
    seen.push(message.event);
    if (['completed', 'failed', 'cancelled'].includes(message.event)) final = message;
  }
  assert.equal(final?.event, 'completed', `${JSON.stringify(seen)} ${final?.data}`);
  assert.equal(seen[0], 'queued');
  assert.ok(seen.filter((event) => event === 'progress').length >= 10, 'progress as pages go');
  const result = JSON.parse(final.data).result as { rows: number; bytes: number };
  assert.equal(result.rows, ITEMS);

  // Download, sampling the API's memory all along.
  const memory = await watchResidentMemory(api.pid);
  const res = await call(accepted.download, { headers: ada.headers });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/csv; charset=utf-8');
  assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="items-/);
  assert.equal(res.headers.get('content-length'), String(result.bytes));
  assert.ok(res.body);
  const chunks: Buffer[] = [];
  for await (const chunk of res.body) {
    chunks.push(Buffer.from(chunk));
    // A slow reader: the API must hold back, not buffer the rest.
    if (chunks.length % 4 === 0) await sleep(5);
  }
  const { before, peak } = await memory.stop();
  const growth = peak - before;
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const figures = `API RSS before ${mb(before)}, peak ${mb(peak)}, growth ${mb(growth)}; file ${mb(result.bytes)} in ${chunks.length} chunks`;
  t.diagnostic(figures);
  console.log(figures);
  assert.ok(growth < RSS_GROWTH_BOUND, `the API grew by ${mb(growth)} serving the file`);

  const file = Buffer.concat(chunks);
  assert.equal(file.length, result.bytes);
  const text = file.toString('utf8');
  assert.equal(text.split('\r\n').length - 1, ITEMS + 1, 'a header and one line per item');
  const ids = new Set<string>();
  let header: string[] | undefined;
  let records = 0;
  for await (const record of parseCsv(
    (async function* () {
      yield file;
    })(),
  )) {
    if (!header) {
      header = record.fields;
      continue;
    }
    records += 1;
    ids.add(record.fields[0] ?? '');
    assert.equal(record.fields[2], description);
  }
  assert.deepEqual(header, [...CSV_COLUMNS]);
  assert.equal(records, ITEMS);
  assert.equal(ids.size, ITEMS, 'every item once');
  assert.ok(
    [...seeded].every((id) => ids.has(id)),
    'every seeded item is there',
  );

  // Import a generated CSV of 10,000 rows for another user.
  const lines = ['name,price,tags,status'];
  for (let index = 0; index < ITEMS; index++) {
    lines.push(
      `"Imported, no. ${index}",${index % 500}.${index % 10}0,import;batch-${index % 5},active`,
    );
  }
  const form = new FormData();
  form.append('file', new Blob([`${lines.join('\n')}\n`], { type: 'text/csv' }), 'items.csv');
  const uploaded = await call('/v1/imports', {
    method: 'POST',
    headers: bob.headers,
    body: form,
  });
  assert.equal(uploaded.status, 202, await uploaded.clone().text());
  const { jobId } = (await uploaded.json()) as { jobId: string };
  const job = await followByPolling(bob, jobId);
  assert.equal(job.state, 'completed', job.error ?? '');
  assert.deepEqual(job.result, { inserted: ITEMS, rejectedCount: 0, rejected: [] });
  const [stored] = await deps.db
    .select({ total: count() })
    .from(items)
    .where(eq(items.ownerId, bob.user.id));
  assert.equal(stored?.total, ITEMS);
});
