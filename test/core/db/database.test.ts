import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { createApp } from '../../../src/app.ts';
import { createDeps, type OwnedDeps } from '../../../src/deps.ts';
import { parseSettings } from '../../../src/settings.ts';

describe('embedded database (no DATABASE_URL)', () => {
  let dataDir: string;
  let deps: OwnedDeps;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pglite-test-'));
    deps = await createDeps(
      parseSettings({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent' }),
    );
  });
  after(async () => {
    await deps.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('opens PGlite under DATA_DIR and applies the migrations at start', async () => {
    assert.equal(deps.database.kind, 'embedded');
    assert.ok((await readdir(join(dataDir, 'pglite'))).length > 0);
    const result = await deps.db.execute(
      sql`select count(*)::int as applied from drizzle.__drizzle_migrations`,
    );
    assert.ok(result);
  });

  test('serves the same query code and probes as PostgreSQL', async () => {
    const res = await createApp(deps).request('/readyz');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { checks: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.checks), ['database']);
  });
});
