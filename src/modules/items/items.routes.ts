import type { Deps } from '../../core/deps.ts';
import { NotFoundError } from '../../core/domain-errors.ts';
import {
  etagOf,
  etagResponseHeader,
  IfMatchHeaders,
  IfNoneMatchHeaders,
  ifMatchProblems,
  ifMatchVersions,
  isNotModified,
} from '../../core/etag.ts';
import {
  IdempotencyHeaders,
  requestFingerprint,
  runIdempotent,
} from '../../core/idempotency/idempotency.ts';
import { IdParams } from '../../core/ids.ts';
import { setAnswerHeader } from '../../core/node-response.ts';
import { keysetPages } from '../../core/pagination.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, locationHeader, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import {
  ItemCreate,
  ItemListQuery,
  ItemPage,
  ItemPosition,
  ItemPublic,
  ItemStats,
  ItemUpdate,
} from './items.schemas.ts';
import {
  createItem,
  deleteItem,
  getItem,
  itemStats,
  itemStatsKey,
  listItems,
  positionOf,
  toPublicItem,
  updateItem,
} from './items.service.ts';

const itemEtag = etagResponseHeader('The item version, for `If-Match`.');

export const itemStatsRoute = defineRoute({
  method: 'get',
  path: '/v1/item-stats',
  operationId: 'getItemStats',
  summary: 'Statistics of your items',
  description:
    'Cached for a minute, and refreshed as soon as you change an item (`X-Cache` says which).',
  tags: ['items'],
  auth: { scopes: ['items:read'] },
  responses: { 200: jsonResponse(ItemStats, 'Counts and total value') },
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
  description:
    'Creates an item you own. With `Idempotency-Key`, a retry with the same key and body replays the first answer (`Idempotent-Replayed: true`) instead of creating again; the same key with another body is 422.',
  tags: ['items'],
  auth: { scopes: ['items:write'] },
  request: {
    headers: IdempotencyHeaders,
    body: { content: { 'application/json': { schema: ItemCreate } }, required: true },
  },
  responses: {
    201: {
      ...jsonResponse(ItemPublic, 'The new item'),
      headers: { ...itemEtag, ...locationHeader('The new item’s URL') },
    },
    ...problemResponses(409),
  },
});

export const getItemRoute = defineRoute({
  method: 'get',
  path: '/v1/items/{id}',
  operationId: 'getItem',
  summary: 'Get an item',
  description:
    "One of your items, with its `ETag`. Send that tag as `If-None-Match` to get 304 while your copy is current. Another user's item is 404.",
  tags: ['items'],
  auth: { scopes: ['items:read'] },
  request: { params: IdParams, headers: IfNoneMatchHeaders },
  responses: {
    200: { ...jsonResponse(ItemPublic, 'The item'), headers: itemEtag },
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
    200: { ...jsonResponse(ItemPublic, 'The updated item'), headers: itemEtag },
    ...problemResponses(404, 409, 412),
    ...ifMatchProblems,
  },
});

export const deleteItemRoute = defineRoute({
  method: 'delete',
  path: '/v1/items/{id}',
  operationId: 'deleteItem',
  summary: 'Delete an item',
  description:
    'Deletes one of your items. With `If-Match`, only the version you name (else 412); without, whatever version is current.',
  tags: ['items'],
  auth: { scopes: ['items:write'] },
  request: { params: IdParams, headers: IfMatchHeaders },
  responses: {
    204: { description: 'Deleted' },
    ...problemResponses(404, 412),
    ...ifMatchProblems,
  },
});

/** The reference resource: a user's items, with everything a real resource needs. */
export function itemRoutes(deps: Deps) {
  const pages = keysetPages(deps.settings.JWT_SECRET);
  const forgetStats = (ownerId: string) => deps.cache.forget(itemStatsKey(ownerId));
  return createRouter()
    .openapi(itemStatsRoute, async (c) => {
      const ownerId = c.get('principal').userId;
      const { value, hit } = await deps.cache.remember<ItemStats>(itemStatsKey(ownerId), 60, () =>
        itemStats(deps.db, ownerId),
      );
      setAnswerHeader(c, 'x-cache', hit ? 'hit' : 'miss');
      return sendJson(c, ItemStats, value, 200);
    })
    .openapi(listItemsRoute, async (c) => {
      const query = c.req.valid('query');
      const { sort, order, q, tag, status, minPrice, maxPrice } = query;
      // What shapes the list: a cursor is valid for this alone (the page size may change).
      const shape = [sort, order, q, tag, status, minPrice, maxPrice];
      const after = pages.start(query.cursor, shape, ItemPosition(sort));
      const rows = await listItems(deps.db, c.get('principal').userId, {
        sort,
        order,
        limit: query.limit + 1,
        after,
        filters: query,
      });
      const { data, nextCursor } = pages.page(rows, query.limit, shape, (row) =>
        positionOf(row, sort),
      );
      return sendJson(c, ItemPage, { data: data.map(toPublicItem), nextCursor }, 200);
    })
    .openapi(createItemRoute, async (c) => {
      const body = c.req.valid('json');
      const ownerId = c.get('principal').userId;
      const key = c.req.valid('header')['idempotency-key'];
      let created: ReturnType<typeof toPublicItem> | undefined;
      const create = async (db: Deps['db']) => {
        created = toPublicItem(await createItem(db, ownerId, body));
        return { status: 201, body: created, location: `/v1/items/${created.id}` };
      };
      const { response, replayed } = key
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
      if (!replayed) await forgetStats(ownerId);
      // A replayed body is stored JSON, its dates strings: read through the schema (sendJson
      // checks a fresh one).
      const item = created ?? ItemPublic.parse(response.body);
      if (response.location) setAnswerHeader(c, 'location', response.location);
      setAnswerHeader(c, 'etag', etagOf(item.version));
      if (replayed) setAnswerHeader(c, 'idempotent-replayed', 'true');
      return sendJson(c, ItemPublic, item, 201);
    })
    .openapi(getItemRoute, async (c) => {
      const item = await getItem(deps.db, c.get('principal').userId, c.req.valid('param').id);
      if (!item) throw new NotFoundError('item');
      const etag = etagOf(item.version);
      setAnswerHeader(c, 'etag', etag);
      if (isNotModified(c.req.valid('header')['if-none-match'], etag)) return c.body(null, 304);
      return sendJson(c, ItemPublic, toPublicItem(item), 200);
    })
    .openapi(updateItemRoute, async (c) => {
      const ownerId = c.get('principal').userId;
      const item = await updateItem(
        deps.db,
        ownerId,
        c.req.valid('param').id,
        c.req.valid('json'),
        ifMatchVersions(c.req.valid('header')['if-match']),
      );
      await forgetStats(ownerId);
      setAnswerHeader(c, 'etag', etagOf(item.version));
      return sendJson(c, ItemPublic, toPublicItem(item), 200);
    })
    .openapi(deleteItemRoute, async (c) => {
      const ownerId = c.get('principal').userId;
      await deleteItem(
        deps.db,
        ownerId,
        c.req.valid('param').id,
        ifMatchVersions(c.req.valid('header')['if-match']),
      );
      await forgetStats(ownerId);
      return c.body(null, 204);
    });
}
