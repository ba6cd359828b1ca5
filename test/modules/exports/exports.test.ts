/**
 * Exports over HTTP, with the real `exports.generate` job run by a worker in this process on
 * the test's BullMQ queue: CSV and NDJSON with filters, the download, and who may fetch it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../../src/app.ts';
import { parseCsv } from '../../../src/core/csv.ts';
import type { JobWorker } from '../../../src/core/jobs/job-queue.ts';
import { memoryJobQueue } from '../../../src/core/jobs/memory-queue.ts';
import { CSV_COLUMNS, generateExport } from '../../../src/modules/exports/exports.jobs.ts';
import { importItems } from '../../../src/modules/imports/imports.jobs.ts';
import { createItem, type Item } from '../../../src/modules/items/items.service.ts';
import { createTestUser, type TestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';
import { followJobOverHttp } from '../../support/jobs.ts';

let deps: TestDeps;
let worker: JobWorker;
let app: ReturnType<typeof createApp>;
let ada: TestUser;
let bob: TestUser;
/** Ada's items, oldest first, as an export lists them. */
const adaItems: Item[] = [];

interface Accepted {
  id: string;
  jobId: string;
  status: string;
  download: string;
}

interface JobJson {
  state: string;
  progress: number;
  result: unknown;
  error: string | null;
}

before(async () => {
  deps = await createTestDeps();
  worker = await deps.jobs.startWorker([generateExport, importItems], deps);
  app = createApp(deps);
  ada = await createTestUser(deps);
  bob = await createTestUser(deps);
  const seed = [
    {
      name: 'Watering can',
      price: '24.50',
      tags: ['garden', 'tools'],
      description: 'Ten litres, "galvanised"\nsteel',
    },
    { name: 'Rake', price: '12.00', tags: ['garden'], status: 'archived' as const },
    { name: 'Hammer', price: '9.99', tags: ['tools'] },
    { name: 'Seeds, mixed', price: '3.10', tags: ['garden'] },
    { name: 'Hose', price: '30.00', tags: ['garden'], status: 'draft' as const },
    { name: 'Shovel', price: '15.00', tags: ['tools'], description: 'Short handle' },
  ];
  for (const input of seed) adaItems.push(await createItem(deps.db, ada.user.id, input));
  await createItem(deps.db, bob.user.id, {
    name: 'Bob’s garden chair',
    price: '40.00',
    tags: ['garden'],
  });
});
after(async () => {
  await worker.close(5_000);
  await deps.close();
});

async function startExport(
  who: TestUser,
  body: unknown,
  on: ReturnType<typeof createApp> = app,
): Promise<Accepted> {
  const res = await on.request('/v1/exports', {
    method: 'POST',
    headers: { ...who.headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 202, await res.clone().text());
  const accepted = (await res.json()) as Accepted;
  assert.equal(res.headers.get('location'), `/v1/jobs/${accepted.jobId}`);
  assert.equal(accepted.status, 'pending');
  assert.equal(accepted.download, `/v1/exports/${accepted.id}/download`);
  return accepted;
}

/** Polls the job over HTTP until it has finished. */
function followJob(who: TestUser, jobId: string): Promise<JobJson> {
  return followJobOverHttp<JobJson>((path) => app.request(path, { headers: who.headers }), jobId);
}

function download(who: TestUser, accepted: Accepted) {
  return app.request(accepted.download, { headers: who.headers });
}

async function csvRows(text: string): Promise<string[][]> {
  const rows: string[][] = [];
  const chunks = (async function* () {
    yield text;
  })();
  for await (const record of parseCsv(chunks)) rows.push(record.fields);
  return rows;
}

describe('exports', () => {
  test('CSV with a tag filter: only matching items, every column, quoting intact', async () => {
    const accepted = await startExport(ada, { format: 'csv', filter: { tag: 'garden' } });
    const job = await followJob(ada, accepted.jobId);
    assert.equal(job.state, 'completed', job.error ?? '');
    assert.equal(job.progress, 100);
    const expected = adaItems.filter((item) => item.tags.includes('garden'));
    assert.deepEqual(
      { ...(job.result as object), bytes: undefined },
      { exportId: accepted.id, rows: expected.length, bytes: undefined },
    );

    const res = await download(ada, accepted);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.match(
      res.headers.get('content-disposition') ?? '',
      /^attachment; filename="items-\d{4}-\d{2}-\d{2}\.csv"$/,
    );
    const text = await res.text();
    assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)));
    assert.equal((job.result as { bytes: number }).bytes, Buffer.byteLength(text));
    const [header, ...rows] = await csvRows(text);
    assert.deepEqual(header, [...CSV_COLUMNS]);
    assert.deepEqual(
      rows,
      expected.map((item) => [
        item.id,
        item.name,
        item.description ?? '',
        item.price,
        item.tags.join(';'),
        item.status,
        String(item.version),
        item.createdAt.toISOString(),
        item.updatedAt.toISOString(),
      ]),
    );
    assert.ok(!text.includes('Bob’s garden chair'), 'no other user’s item');
  });

  test('NDJSON with status and price filters: one JSON item per line, no owner', async () => {
    const accepted = await startExport(ada, {
      format: 'ndjson',
      filter: { status: 'active', minPrice: '10.00' },
    });
    const job = await followJob(ada, accepted.jobId);
    assert.equal(job.state, 'completed', job.error ?? '');
    const res = await download(ada, accepted);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    assert.match(
      res.headers.get('content-disposition') ?? '',
      /^attachment; filename="items-\d{4}-\d{2}-\d{2}\.ndjson"$/,
    );
    const text = await res.text();
    assert.ok(text.endsWith('\n'));
    const lines = text
      .split('\n')
      .slice(0, -1)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const expected = adaItems.filter(
      (item) => item.status === 'active' && Number(item.price) >= 10,
    );
    assert.deepEqual(
      lines.map((line) => line.name),
      ['Watering can', 'Shovel'],
    );
    assert.deepEqual(
      lines,
      expected.map(({ ownerId: _owner, ...item }) => ({
        ...item,
        createdAt: item.createdAt.toISOString(),
        updatedAt: item.updatedAt.toISOString(),
      })),
    );
  });

  test('a filter that matches nothing: a CSV with only its header', async () => {
    const accepted = await startExport(ada, { format: 'csv', filter: { q: 'nothing like it' } });
    const job = await followJob(ada, accepted.jobId);
    assert.equal(job.state, 'completed', job.error ?? '');
    assert.equal((job.result as { rows: number }).rows, 0);
    assert.equal(job.progress, 100);
    const res = await download(ada, accepted);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), `${CSV_COLUMNS.join(',')}\r\n`);
  });

  test('409 while the export is not ready, with the job to follow', async () => {
    // No worker runs this queue: the job stays queued.
    const idle = createApp({ ...deps, jobs: memoryJobQueue() });
    const accepted = await startExport(ada, { format: 'csv' }, idle);
    const res = await idle.request(accepted.download, { headers: ada.headers });
    assert.equal(res.status, 409);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const problem = (await res.json()) as { detail: string; jobId: string };
    assert.match(problem.detail, /not ready/);
    assert.equal(problem.jobId, accepted.jobId);
  });

  test('another user’s export and its job are 404', async () => {
    const accepted = await startExport(ada, { format: 'ndjson' });
    const job = await followJob(ada, accepted.jobId);
    assert.equal(job.state, 'completed');
    const res = await download(bob, accepted);
    assert.equal(res.status, 404);
    const jobRes = await app.request(`/v1/jobs/${accepted.jobId}`, { headers: bob.headers });
    assert.equal(jobRes.status, 404);
    const missing = await app.request('/v1/exports/0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e/download', {
      headers: ada.headers,
    });
    assert.equal(missing.status, 404);
    // The owner still can.
    assert.equal((await download(ada, accepted)).status, 200);
  });

  test('a bad format or an unknown filter is 422', async () => {
    for (const body of [
      { format: 'xlsx' },
      { format: 'csv', filter: { colour: 'red' } },
      { format: 'csv', extra: true },
    ]) {
      const res = await app.request('/v1/exports', {
        method: 'POST',
        headers: { ...bob.headers, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 422, JSON.stringify(body));
    }
  });
});
