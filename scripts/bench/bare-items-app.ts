/**
 * The items baseline of `npm run bench`: plain Hono on @hono/node-server and plain
 * postgres.js, running the very SQL text the items service runs (prepared, as drizzle's
 * named statements are), for one fixed owner (BENCH_OWNER_ID). No middleware, no
 * authentication, no logging, no schema validation: the least the same routes can do and
 * still answer the same JSON. POST /v1/items parses the body with JSON.parse, checks the
 * types of its fields, and inserts.
 */
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import postgres from 'postgres';
import { declareQuerySpecies } from '../../src/core/db/query-species.ts';
import { uuidv7 } from '../../src/core/ids.ts';
import { cursorCodec } from '../../src/core/pagination.ts';

const ownerId = process.env.BENCH_OWNER_ID;
const databaseUrl = process.env.DATABASE_URL;
if (!ownerId || !databaseUrl) throw new Error('BENCH_OWNER_ID and DATABASE_URL are required');

const sql = postgres(databaseUrl, {
  // The bench gives it the full server's pool size (decision 133); run alone, the template's
  // default.
  max: Number(process.env.DATABASE_POOL_MAX ?? 10),
  onnotice: () => {},
});
// postgres.js as the full server runs it: the module replacements (the preload) and this.
declareQuerySpecies(sql);

// Word for word what drizzle sends for getItem and for listItems (createdAt, desc, no filter).
const COLUMNS =
  'select "id", "owner_id", "name", "description", "price", "tags", "status", "version", "created_at", "updated_at" from "items"';
const BY_ID = `${COLUMNS} where ("items"."id" = $1 and "items"."owner_id" = $2)`;
const BY_OWNER = `${COLUMNS} where "items"."owner_id" = $1 order by "items"."created_at" desc, "items"."id" desc limit $2`;
// What drizzle sends for createItem with a description and tags (the rest: column defaults).
const RETURNING =
  '"id", "owner_id", "name", "description", "price", "tags", "status", "version", "created_at", "updated_at"';
const INSERT = `insert into "items" (${RETURNING}) values ($1, $2, $3, $4, $5, $6, default, default, default, default) returning ${RETURNING}`;

interface Row {
  id: string;
  owner_id: string;
  name: string;
  description: string | null;
  price: string;
  tags: string[];
  status: string;
  version: number;
  created_at: Date;
  updated_at: Date;
}

/** The public item, keys in the order the service sends them. */
function publicItem(row: Row) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    price: row.price,
    tags: row.tags,
    status: row.status,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

// The service's own cursor and ids (pure functions, no framework): one query shape here,
// so its hash is computed once.
const cursors = cursorCodec(process.env.JWT_SECRET ?? 'bench');
const QUERY_KEY = createHash('sha256')
  .update(JSON.stringify(['createdAt', 'desc', null, null, null, null, null]))
  .digest('base64url')
  .slice(0, 16);
function cursor(row: Row): string {
  return cursors.encode({ value: row.created_at.toISOString(), id: row.id, query: QUERY_KEY });
}

/** A PostgreSQL array literal of text, as drizzle sends a text[] parameter. */
function textArray(values: string[]): string {
  return `{${values.map((value) => `"${value.replace(/["\\]/g, (char) => `\\${char}`)}"`).join(',')}}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const app = new Hono();
app.get('/livez', (c) => c.json({ status: 'ok' }));
app.get('/readyz', async (c) => {
  await sql`select 1`;
  return c.json({ status: 'ok' });
});
app.get('/v1/items/:id', async (c) => {
  const id = c.req.param('id');
  if (!UUID.test(id)) return c.json({ detail: 'No such item' }, 404);
  const [row] = await sql.unsafe<Row[]>(BY_ID, [id, ownerId], { prepare: true });
  if (!row) return c.json({ detail: 'No such item' }, 404);
  c.header('etag', `"${row.version}"`);
  return c.json(publicItem(row));
});
app.get('/v1/items', async (c) => {
  const limit = Math.min(Math.max(Number(c.req.query('limit') ?? 20) || 20, 1), 100);
  const rows = await sql.unsafe<Row[]>(BY_OWNER, [ownerId, limit + 1], { prepare: true });
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return c.json({
    data: page.map(publicItem),
    nextCursor: rows.length > limit && last ? cursor(last) : null,
  });
});

app.post('/v1/items', async (c) => {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(await c.req.text()) as Record<string, unknown>;
  } catch {
    return c.json({ detail: 'The body is not JSON' }, 400);
  }
  const { name, description = null, price, tags = [] } = body;
  if (
    typeof name !== 'string' ||
    typeof price !== 'string' ||
    (description !== null && typeof description !== 'string') ||
    !Array.isArray(tags) ||
    !tags.every((tag) => typeof tag === 'string')
  ) {
    return c.json({ detail: 'Invalid body' }, 422);
  }
  try {
    const [row] = await sql.unsafe<Row[]>(
      INSERT,
      [uuidv7(), ownerId, name, description, price, textArray(tags)],
      { prepare: true },
    );
    if (!row) throw new Error('insert returned no row');
    c.header('location', `/v1/items/${row.id}`);
    c.header('etag', `"${row.version}"`);
    return c.json(publicItem(row), 201);
  } catch (error) {
    if ((error as { code?: string }).code === '23505') {
      return c.json({ detail: 'You already have an item with this name' }, 409);
    }
    throw error;
  }
});

const server = serve({
  fetch: app.fetch,
  hostname: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 3002),
}) as Server;

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close(() => {
      sql.end({ timeout: 5 }).then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
    server.closeAllConnections();
  });
}
