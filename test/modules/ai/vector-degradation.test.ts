/**
 * A PostgreSQL server without pgvector (this project's own): the service starts and serves
 * everything else, `/readyz` passes, collections work, and the operations that need vectors
 * answer 503 saying the extension is missing. On a server that has pgvector (compose's), this
 * file's own database drops the extension first, which is what the service sees without it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { createApp } from '../../../src/app.ts';
import { createTestApiKey, createTestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';

let deps: TestDeps;
let app: ReturnType<typeof createApp>;
let headers: Record<string, string>;

before(async () => {
  deps = await createTestDeps();
  await deps.db.execute(sql`drop table if exists ai_chunks`);
  await deps.db.execute(sql`drop extension if exists vector cascade`);
  app = createApp(deps);
  const owner = await createTestUser(deps);
  const { key } = await createTestApiKey(deps, owner.user, ['ai:chat', 'ai:documents']);
  headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
});
after(() => deps?.close());

async function missing(res: Response) {
  assert.equal(res.status, 503, await res.clone().text());
  const body = (await res.json()) as { code: string; detail: string };
  assert.equal(body.code, 'vector_extension_missing');
  assert.match(body.detail, /pgvector/);
}

describe('a server without pgvector', () => {
  test('is ready, and serves embeddings and collections', async () => {
    assert.equal((await app.request('/readyz')).status, 200);
    const embeddings = await app.request('/v1/embeddings', {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'dev-local-embed', input: 'still here' }),
    });
    assert.equal(embeddings.status, 200);
  });

  test('answers 503 vector_extension_missing to uploads, searches and grounded chats', async () => {
    const created = await app.request('/v1/ai/collections', {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'Without vectors' }),
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };
    const form = new FormData();
    form.append('file', new File(['# A title\n\nSome text.'], 'a.md', { type: 'text/markdown' }));
    await missing(
      await app.request(`/v1/ai/collections/${id}/documents`, {
        method: 'POST',
        headers: { authorization: headers.authorization ?? '' },
        body: form,
      }),
    );
    await missing(
      await app.request(`/v1/ai/collections/${id}/search`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query: 'text' }),
      }),
    );
    await missing(
      await app.request('/v1/chat/completions', {
        method: 'POST',
        headers,
        body: JSON.stringify({
          model: 'dev-local-echo',
          messages: [{ role: 'user', content: 'hi' }],
          retrieval: { collection_id: id },
        }),
      }),
    );
    const listed = await app.request(`/v1/ai/collections/${id}/documents`, { headers });
    assert.equal(listed.status, 200);
  });
});
