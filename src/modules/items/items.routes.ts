import { createHash } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import { etagOf, expectedVersion, isNotModified } from '../../core/etag.ts';
import { requestFingerprint, runIdempotent } from '../../core/idempotency/idempotency.ts';
import { IdParams } from '../../core/ids.ts';
import { cursorCodec } from '../../core/pagination.ts';
import { ProblemError } from '../../core/problem.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, locationHeader, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import type { Deps } from '../../deps.ts';
import {
  ItemCreate,
  ItemListQuery,
  ItemPage,
  ItemPublic,
  ItemUpdate,
  Price,
} from './items.schemas.ts';
import {
  createItem,
  deleteItem,
  getItem,
  type Item,
  type ItemStats,
  itemStats,
  itemStatsKey,
  listItems,
  positionOf,
  updateItem,
} from './items.service.ts';

const IdempotencyHeaders = z.object({
  'idempotency-key': z.string().min(1).max(255).optional().openapi({
    description:
      'Makes a retry safe: the same key and body replay the first response instead of creating again.',
    example: '5f0c6b1e-4a4f-4b7e-9a53-2f2f1d0c7b9a',
  }),
});

const IfMatchHeaders = z.object({
  'if-match': z.string().max(200).optional().openapi({
    description: 'The ETag you last saw; a stale one gets 412 instead of overwriting.',
    example: '"1"',
  }),
});

const IfNoneMatchHeaders = z.object({
  'if-none-match': z
    .string()
    .max(200)
    .optional()
    .openapi({ description: '304 when it names the current ETag.', example: '"1"' }),
});

const etagHeader = {
  ETag: { schema: { type: 'string' as const }, description: 'The item version, for `If-Match`.' },
};

export const ItemStatsSchema = z
  .object({
    count: z.number().int(),
    totalValue: z.string().openapi({ description: 'Sum of prices, exact.' }),
    byStatus: z.object({
      draft: z.number().int(),
      active: z.number().int(),
      archived: z.number().int(),
    }),
  })
  .openapi('ItemStats', {
    example: { count: 3, totalValue: '73.50', byStatus: { draft: 1, active: 2, archived: 0 } },
  });

export const itemStatsRoute = defineRoute({
  method: 'get',
  path: '/v1/item-stats',
  operationId: 'getItemStats',
  summary: 'Statistics of your items',
  description:
    'Cached for a minute, and refreshed as soon as you change an item (`X-Cache` says which).',
  tags: ['items'],
  auth: { scopes: ['items:read'] },
  responses: { 200: jsonResponse(ItemStatsSchema, 'Counts and total value') },
});

export const listItemsRoute = defineRoute({
  method: 'get',
  path: '/v1/items',
  operationId: 'listItems',
  summary: 'List your items',
  description:
    'Keyset pagination: pass `nextCursor` as `cursor` for the next page, with the same sort and filters. Pages stay exact while items are added or removed.',
  tags: ['items'],
  auth: { scopes: ['items:read'] },
  request: { query: ItemListQuery },
  responses: { 200: jsonResponse(ItemPage, 'A page of items') },
});

export const createItemRoute = defineRoute({
  method: 'post',
  path: '/v1/items',
  operationId: 'createItem',
  summary: 'Create an item',
  tags: ['items'],
  auth: { scopes: ['items:write'] },
  request: {
    headers: IdempotencyHeaders,
    body: { content: { 'application/json': { schema: ItemCreate } }, required: true },
  },
  responses: {
    201: {
      ...jsonResponse(ItemPublic, 'The new item'),
      headers: { ...etagHeader, ...locationHeader('The new item’s URL') },
    },
    ...problemResponses(409),
  },
});

export const getItemRoute = defineRoute({
  method: 'get',
  path: '/v1/items/{id}',
  operationId: 'getItem',
  summary: 'Get an item',
  tags: ['items'],
  auth: { scopes: ['items:read'] },
  request: { params: IdParams, headers: IfNoneMatchHeaders },
  responses: {
    200: { ...jsonResponse(ItemPublic, 'The item'), headers: etagHeader },
    304: { description: 'Your copy is current' },
    ...problemResponses(404),
  },
});

export const updateItemRoute = defineRoute({
  method: 'patch',
  path: '/v1/items/{id}',
  operationId: 'updateItem',
  summary: 'Change an item',
  description:
    'A partial update. With `If-Match`, it applies only to the version you name (else 412); without, the last write wins.',
  tags: ['items'],
  auth: { scopes: ['items:write'] },
  request: {
    params: IdParams,
    headers: IfMatchHeaders,
    body: { content: { 'application/json': { schema: ItemUpdate } }, required: true },
  },
  responses: {
    200: { ...jsonResponse(ItemPublic, 'The updated item'), headers: etagHeader },
    ...problemResponses(404, 409, 412),
  },
});

export const deleteItemRoute = defineRoute({
  method: 'delete',
  path: '/v1/items/{id}',
  operationId: 'deleteItem',
  summary: 'Delete an item',
  tags: ['items'],
  auth: { scopes: ['items:write'] },
  request: { params: IdParams, headers: IfMatchHeaders },
  responses: { 204: { description: 'Deleted' }, ...problemResponses(404, 412) },
});

/** The public shape of an item: everything but its owner. */
export function toPublicItem(item: Item) {
  const { ownerId: _owner, ...visible } = item;
  return visible;
}

const notFound = () => new ProblemError(404, { detail: 'No such item' });
const stale = () =>
  new ProblemError(412, { detail: 'The item changed since that ETag; fetch it again' });

/** A cursor is only valid for the query that produced it, named by a short hash. */
const ItemCursor = z.object({ query: z.string(), value: z.string(), id: z.uuid() });

/** What a cursor's value must look like for each sort, so a bad one is 422, not a SQL error. */
const SORT_VALUES = {
  createdAt: z.iso.datetime(),
  name: z.string(),
  price: Price,
} as const;

function queryKey(query: z.output<typeof ItemListQuery>): string {
  const { sort, order, q, tag, status, minPrice, maxPrice } = query;
  const key = JSON.stringify([sort, order, q, tag, status, minPrice, maxPrice]);
  return createHash('sha256').update(key).digest('base64url').slice(0, 16);
}

function versionFrom(ifMatch: string | undefined): number | undefined {
  const version = expectedVersion(ifMatch);
  if (version === null) throw stale();
  return version;
}

/** The reference resource: a user's items, with everything a real resource needs. */
export function itemRoutes(deps: Deps) {
  const cursors = cursorCodec(deps.settings.JWT_SECRET);
  const forgetStats = (ownerId: string) => deps.cache.forget(itemStatsKey(ownerId));
  return createRouter()
    .openapi(itemStatsRoute, async (c) => {
      const ownerId = c.get('principal').userId;
      const { value, hit } = await deps.cache.remember<ItemStats>(itemStatsKey(ownerId), 60, () =>
        itemStats(deps.db, ownerId),
      );
      c.header('x-cache', hit ? 'hit' : 'miss');
      return sendJson(c, ItemStatsSchema, value, 200);
    })
    .openapi(listItemsRoute, async (c) => {
      const query = c.req.valid('query');
      const key = queryKey(query);
      const cursor = query.cursor ? cursors.decode(query.cursor, ItemCursor) : undefined;
      if (
        cursor &&
        (cursor.query !== key || !SORT_VALUES[query.sort].safeParse(cursor.value).success)
      ) {
        throw new ProblemError(422, {
          detail: 'The cursor belongs to another sort or filter; start again without one',
          extensions: {
            errors: [
              {
                location: 'query',
                path: 'cursor',
                message: 'does not match the query',
                code: 'invalid_cursor',
              },
            ],
          },
        });
      }
      const rows = await listItems(deps.db, c.get('principal').userId, {
        sort: query.sort,
        order: query.order,
        limit: query.limit + 1,
        after: cursor,
        filters: query,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      const nextCursor =
        rows.length > query.limit && last
          ? cursors.encode({ query: key, ...positionOf(last, query.sort) })
          : null;
      return sendJson(c, ItemPage, { data: page.map(toPublicItem), nextCursor }, 200);
    })
    .openapi(createItemRoute, async (c) => {
      const body = c.req.valid('json');
      const ownerId = c.get('principal').userId;
      const key = c.req.valid('header')['idempotency-key'];
      const create = async (db: Deps['db']) => {
        const item = await createItem(db, ownerId, body);
        return {
          status: 201,
          body: toPublicItem(item),
          location: `/v1/items/${item.id}`,
        };
      };
      const result = key
        ? await runIdempotent(
            deps.db,
            {
              ownerId,
              key,
              fingerprint: requestFingerprint('createItem', body),
              now: deps.clock.now(),
              ttlSeconds: deps.settings.IDEMPOTENCY_TTL_SECONDS,
            },
            create,
          )
        : { response: await create(deps.db), replayed: false };
      const { response, replayed } = result;
      if (!replayed) await forgetStats(ownerId);
      // Read through the schema: a replayed body is stored JSON, its dates are strings.
      const item = ItemPublic.parse(response.body);
      if (response.location) c.header('location', response.location);
      c.header('etag', etagOf(item.version));
      if (replayed) c.header('idempotent-replayed', 'true');
      return sendJson(c, ItemPublic, item, 201);
    })
    .openapi(getItemRoute, async (c) => {
      const item = await getItem(deps.db, c.get('principal').userId, c.req.valid('param').id);
      if (!item) throw notFound();
      const etag = etagOf(item.version);
      c.header('etag', etag);
      if (isNotModified(c.req.valid('header')['if-none-match'], etag)) return c.body(null, 304);
      return sendJson(c, ItemPublic, toPublicItem(item), 200);
    })
    .openapi(updateItemRoute, async (c) => {
      const { id } = c.req.valid('param');
      const expected = versionFrom(c.req.valid('header')['if-match']);
      const result = await updateItem(
        deps.db,
        c.get('principal').userId,
        id,
        c.req.valid('json'),
        expected,
      );
      if (result === 'stale') throw stale();
      if (!result) throw notFound();
      await forgetStats(c.get('principal').userId);
      c.header('etag', etagOf(result.version));
      return sendJson(c, ItemPublic, toPublicItem(result), 200);
    })
    .openapi(deleteItemRoute, async (c) => {
      const { id } = c.req.valid('param');
      const expected = versionFrom(c.req.valid('header')['if-match']);
      const result = await deleteItem(deps.db, c.get('principal').userId, id, expected);
      if (result === 'stale') throw stale();
      if (!result) throw notFound();
      await forgetStats(c.get('principal').userId);
      return c.body(null, 204);
    });
}
