/**
 * Imports over HTTP, with the real `imports.run` job run by a worker in this process on the
 * test's BullMQ queue: valid and rejected rows, duplicates, malformed files, upload checks,
 * and an export imported back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { asc, eq, like } from 'drizzle-orm';
import { createApp } from '../../../src/app.ts';
import type { JobWorker } from '../../../src/core/jobs/job-queue.ts';
import { storedChunks } from '../../../src/core/storage/stored-chunks.table.ts';
import { generateExport } from '../../../src/modules/exports/exports.jobs.ts';
import { importItems, type RejectedRow } from '../../../src/modules/imports/imports.jobs.ts';
import { createItem } from '../../../src/modules/items/items.service.ts';
import { items } from '../../../src/modules/items/items.table.ts';
import { createTestUser, type TestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';
import { followJobOverHttp } from '../../support/jobs.ts';

const UPLOAD_MAX_BYTES = 64 * 1024;

let deps: TestDeps;
let worker: JobWorker;
let app: ReturnType<typeof createApp>;

interface JobJson {
  state: string;
  attempts: number;
  result: { inserted: number; rejectedCount: number; rejected: RejectedRow[] } | null;
  error: string | null;
}

before(async () => {
  deps = await createTestDeps({ env: { UPLOAD_MAX_BYTES: String(UPLOAD_MAX_BYTES) } });
  worker = await deps.jobs.startWorker([generateExport, importItems], deps);
  app = createApp(deps);
});
after(async () => {
  await worker.close(5_000);
  await deps.close();
});

function upload(
  who: TestUser,
  content: string | Uint8Array,
  file: { name?: string; type?: string } = {},
) {
  const form = new FormData();
  form.append(
    'file',
    new File([content], file.name ?? 'items.csv', { type: file.type ?? 'text/csv' }),
  );
  return app.request('/v1/imports', { method: 'POST', headers: who.headers, body: form });
}

/** Uploads `content`, expects 202, and returns the job once it has finished. */
async function importCsv(who: TestUser, content: string | Uint8Array): Promise<JobJson> {
  const res = await upload(who, content);
  assert.equal(res.status, 202, await res.clone().text());
  const { jobId } = (await res.json()) as { jobId: string };
  assert.equal(res.headers.get('location'), `/v1/jobs/${jobId}`);
  return followJob(who, jobId);
}

function followJob(who: TestUser, jobId: string): Promise<JobJson> {
  return followJobOverHttp<JobJson>((path) => app.request(path, { headers: who.headers }), jobId);
}

/** The user's items by name (rows inserted together share a creation time). */
function itemsOf(who: TestUser) {
  return deps.db
    .select()
    .from(items)
    .where(eq(items.ownerId, who.user.id))
    .orderBy(asc(items.name));
}

/** Uploads still in file storage. */
async function storedUploads(): Promise<string[]> {
  const rows = await deps.db
    .selectDistinct({ key: storedChunks.key })
    .from(storedChunks)
    .where(like(storedChunks.key, 'imports/%'));
  return rows.map((row) => row.key);
}

describe('imports', () => {
  test('a valid CSV inserts every row; quoting, CRLF and defaults handled', async () => {
    const ada = await createTestUser(deps);
    const csv = [
      'name,price,description,tags,status',
      'Watering can,24.50,"Ten litres, ""galvanised""",Garden;tools,active',
      'Rake,12.00,,garden,',
      '"Seeds, mixed",3.10,"line one',
      'line two",,draft',
      '',
    ].join('\r\n');
    const job = await importCsv(ada, csv);
    assert.equal(job.state, 'completed', job.error ?? '');
    assert.deepEqual(job.result, { inserted: 3, rejectedCount: 0, rejected: [] });
    const stored = await itemsOf(ada);
    assert.deepEqual(
      stored.map(({ name, price, description, tags, status }) => ({
        name,
        price,
        description,
        tags,
        status,
      })),
      [
        { name: 'Rake', price: '12.00', description: null, tags: ['garden'], status: 'active' },
        {
          name: 'Seeds, mixed',
          price: '3.10',
          description: 'line one\r\nline two',
          tags: [],
          status: 'draft',
        },
        {
          name: 'Watering can',
          price: '24.50',
          description: 'Ten litres, "galvanised"',
          tags: ['garden', 'tools'],
          status: 'active',
        },
      ],
    );
    assert.deepEqual(await storedUploads(), [], 'the upload is deleted once read');
  });

  test('invalid rows are rejected with their line numbers and reasons; the rest go in', async () => {
    const ada = await createTestUser(deps);
    const csv = [
      'name,price,status',
      'Good one,1.00,active',
      ',2.00,active',
      'Bad price,abc,active',
      'Bad status,3.00,sold',
      'Another good,4.00,',
      '',
    ].join('\n');
    const job = await importCsv(ada, csv);
    assert.equal(job.state, 'completed', job.error ?? '');
    assert.equal(job.result?.inserted, 2);
    assert.equal(job.result?.rejectedCount, 3);
    const rejected = job.result?.rejected ?? [];
    assert.deepEqual(
      rejected.map((row) => row.line),
      [3, 4, 5],
    );
    assert.match(rejected[0]?.reason ?? '', /^name: /);
    assert.match(rejected[1]?.reason ?? '', /^price: must be a decimal string/);
    assert.match(rejected[2]?.reason ?? '', /^status: /);
    assert.deepEqual(
      (await itemsOf(ada)).map((item) => item.name),
      ['Another good', 'Good one'],
    );
  });

  test('a cell with a NUL character rejects its row alone; the rows around it go in', async () => {
    const ada = await createTestUser(deps);
    const csv = [
      'name,price,description',
      'Before,1.00,',
      'Bad\u0000name,2.00,',
      'After,3.00,x\u0000y',
      'Last,4.00,',
    ].join('\n');
    const job = await importCsv(ada, csv);
    assert.equal(job.state, 'completed', job.error ?? '');
    assert.equal(job.result?.inserted, 2);
    assert.deepEqual(job.result?.rejected, [
      { line: 3, reason: 'name: must not contain the NUL character (U+0000)' },
      { line: 4, reason: 'description: must not contain the NUL character (U+0000)' },
    ]);
    assert.deepEqual(
      (await itemsOf(ada)).map((item) => item.name),
      ['Before', 'Last'],
    );
  });

  test('a name the user already has, or one repeated in the file, is rejected', async () => {
    const ada = await createTestUser(deps);
    await createItem(deps.db, ada.user.id, { name: 'Existing', price: '9.00' });
    const csv = 'name,price\nExisting,1.00\nFresh,2.00\nFresh,3.00\n';
    const job = await importCsv(ada, csv);
    assert.equal(job.state, 'completed', job.error ?? '');
    assert.deepEqual(job.result, {
      inserted: 1,
      rejectedCount: 2,
      rejected: [
        { line: 2, reason: 'an item named "Existing" already exists' },
        { line: 4, reason: 'an item named "Fresh" already exists' },
      ],
    });
    const stored = await itemsOf(ada);
    assert.deepEqual(
      stored.map((item) => [item.name, item.price]),
      [
        ['Existing', '9.00'],
        ['Fresh', '2.00'],
      ],
      'the existing item is untouched; the first Fresh wins',
    );
  });

  const malformed: [string, string | Uint8Array, RegExp][] = [
    [
      'an unterminated quote',
      'name,price\nFine,1.00\n"Broken,2.00\nOther,3.00\n',
      /^The file is not valid CSV: line 3: a quoted field is never closed$/,
    ],
    [
      'a row with the wrong number of fields',
      'name,price\nFine,1.00\nB,2.00,extra\n',
      /^line 3: expected 2 fields, found 3$/,
    ],
    [
      'an unknown column',
      'name,price,colour\nFine,1.00,red\n',
      /^line 1: unknown columns: colour$/,
    ],
    ['no price column', 'name,description\nFine,x\n', /^line 1: the header has no "price" column$/],
    ['an empty file', '', /^The file is empty$/],
    [
      'bytes that are not UTF-8',
      new Uint8Array([...Buffer.from('name,price\nFine,1.00\n'), 0xff, 0xfe, 0x0a]),
      /^The file is not valid CSV: line 3: the file is not valid UTF-8$/,
    ],
    [
      'a quote inside an unquoted field',
      'name,price\nFi"ne,1.00\n',
      /^The file is not valid CSV: line 2: a quote inside an unquoted field$/,
    ],
  ];
  for (const [what, content, error] of malformed) {
    test(`a malformed file (${what}) fails the job at once and inserts nothing`, async () => {
      const ada = await createTestUser(deps);
      const job = await importCsv(ada, content);
      assert.equal(job.state, 'failed');
      assert.equal(job.attempts, 1, 'not retried');
      assert.match(job.error ?? '', error);
      assert.equal(job.result, null);
      assert.deepEqual(await itemsOf(ada), []);
      assert.deepEqual(await storedUploads(), [], 'the rejected upload is deleted');
    });
  }

  test('a file that is not CSV is 415, and nothing is stored', async () => {
    const ada = await createTestUser(deps);
    for (const file of [
      { name: 'items.json', type: 'application/json' },
      { name: 'picture.png', type: 'image/png' },
      { name: 'items.txt', type: 'application/octet-stream' },
    ]) {
      const res = await upload(ada, 'name,price\nA,1.00\n', file);
      assert.equal(res.status, 415, JSON.stringify(file));
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
    }
    assert.deepEqual(await storedUploads(), []);
    // An untyped file named .csv is accepted, as curl sends it.
    const job = await followJob(
      ada,
      (
        (await (
          await upload(ada, 'name,price\nA,1.00\n', {
            name: 'items.csv',
            type: 'application/octet-stream',
          })
        ).json()) as { jobId: string }
      ).jobId,
    );
    assert.equal(job.state, 'completed', job.error ?? '');
  });

  test('an upload over UPLOAD_MAX_BYTES is 413, and nothing is stored or queued', async () => {
    const ada = await createTestUser(deps);
    const rows = ['name,price'];
    for (let index = 0; rows.join('\n').length <= UPLOAD_MAX_BYTES * 2; index++) {
      rows.push(`Item number ${index},1.00`);
    }
    const res = await upload(ada, rows.join('\n'));
    assert.equal(res.status, 413);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.deepEqual(await storedUploads(), []);
    assert.deepEqual(await itemsOf(ada), []);
    // Under the limit, the same kind of file goes through.
    const job = await importCsv(ada, rows.slice(0, 100).join('\n'));
    assert.equal(job.result?.inserted, 99);
  });

  test('a file under another field name is 422 naming the field expected', async () => {
    const ada = await createTestUser(deps);
    const wrongName = new FormData();
    wrongName.append(
      'upload',
      new File(['name,price\nA,1.00\n'], 'items.csv', { type: 'text/csv' }),
    );
    const text = new FormData();
    text.append('file', 'name,price\nA,1.00\n');
    for (const [what, body, message] of [
      ['another field name', wrongName, /multipart field `file`/],
      ['text instead of a file', text, /must be a file upload, not text/],
    ] as const) {
      const res = await app.request('/v1/imports', { method: 'POST', headers: ada.headers, body });
      assert.equal(res.status, 422, what);
      const problem = (await res.json()) as {
        errors: { location: string; path: string; message: string }[];
      };
      assert.equal(problem.errors.length, 1, what);
      const [error] = problem.errors;
      assert.equal(error?.location, 'body');
      assert.equal(error?.path, 'file');
      assert.match(error?.message ?? '', message, what);
      assert.match(error?.message ?? '', /curl -F file=@items\.csv/, what);
    }
    assert.deepEqual(await storedUploads(), []);
  });

  test('a raw CSV body is 415 saying how to upload it: multipart/form-data with a `file` field', async () => {
    const ada = await createTestUser(deps);
    const res = await app.request('/v1/imports', {
      method: 'POST',
      headers: { ...ada.headers, 'content-type': 'text/csv' },
      body: 'name,price\nA,1.00\n',
    });
    assert.equal(res.status, 415);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const { detail } = (await res.json()) as { detail: string };
    assert.match(detail, /multipart\/form-data/);
    assert.match(detail, /field named `file`/);
    assert.match(detail, /text\/csv/, 'says what was sent');
    assert.deepEqual(await storedUploads(), []);
  });

  test('round trip: cells that look like formulas are neutralised in the file and come back exactly', async () => {
    const ada = await createTestUser(deps);
    const bob = await createTestUser(deps);
    const originals = [
      { name: '=HYPERLINK("http://evil.example","click")', price: '1.00', tags: ['=x'] },
      { name: '+cmd', price: '2.00', description: '-2+3' },
      { name: '@SUM(A1)', price: '3.00', description: '\t=1+1' },
      { name: "'=already quoted", price: '4.00', description: "'plain" },
    ];
    for (const item of originals) await createItem(deps.db, ada.user.id, item);
    const created = await app.request('/v1/exports', {
      method: 'POST',
      headers: { ...ada.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ format: 'csv' }),
    });
    assert.equal(created.status, 202);
    const accepted = (await created.json()) as { jobId: string; download: string };
    assert.equal((await followJob(ada, accepted.jobId)).state, 'completed');
    const file = await (await app.request(accepted.download, { headers: ada.headers })).text();
    // No cell of the file starts a formula: each begins with the neutralising quote instead.
    assert.match(file, /,"'=HYPERLINK\(""http:\/\/evil\.example"",""click""\)",/);
    assert.match(file, /,"'\+cmd","'-2\+3",/);
    assert.match(file, /,"'@SUM\(A1\)","'\t=1\+1",/);
    assert.match(file, /,"''=already quoted",'plain,/);
    assert.doesNotMatch(file, /(^|,)[=+\-@]/m);

    const job = await importCsv(bob, file);
    assert.equal(job.state, 'completed', job.error ?? '');
    assert.deepEqual(job.result, { inserted: 4, rejectedCount: 0, rejected: [] });
    const visible = (rows: Awaited<ReturnType<typeof itemsOf>>) =>
      rows.map(({ name, description, price, tags }) => ({ name, description, price, tags }));
    assert.deepEqual(visible(await itemsOf(bob)), visible(await itemsOf(ada)));
  });

  test('round trip: one user’s CSV export, imported by another, gives the same items', async () => {
    const ada = await createTestUser(deps);
    const bob = await createTestUser(deps);
    const originals = [
      {
        name: 'Can',
        price: '24.50',
        tags: ['garden', 'tools'],
        description: 'Ten "litres",\nsteel',
      },
      { name: 'Rake, wide', price: '12.00', tags: [], status: 'archived' as const },
      { name: 'Émile’s hoe', price: '0.99', tags: ['garden'], status: 'draft' as const },
    ];
    for (const item of originals) await createItem(deps.db, ada.user.id, item);
    const created = await app.request('/v1/exports', {
      method: 'POST',
      headers: { ...ada.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ format: 'csv' }),
    });
    assert.equal(created.status, 202);
    const accepted = (await created.json()) as { jobId: string; download: string };
    assert.equal((await followJob(ada, accepted.jobId)).state, 'completed');
    const file = await (await app.request(accepted.download, { headers: ada.headers })).text();

    const job = await importCsv(bob, file);
    assert.equal(job.state, 'completed', job.error ?? '');
    assert.deepEqual(job.result, { inserted: 3, rejectedCount: 0, rejected: [] });
    const visible = (rows: Awaited<ReturnType<typeof itemsOf>>) =>
      rows.map(({ name, description, price, tags, status }) => ({
        name,
        description,
        price,
        tags,
        status,
      }));
    const adas = await itemsOf(ada);
    const bobs = await itemsOf(bob);
    assert.deepEqual(visible(bobs), visible(adas));
    assert.ok(
      bobs.every((item) => !adas.some((original) => original.id === item.id)),
      'new ids: the id column of an export is ignored',
    );
  });
});
