import { z } from '@hono/zod-openapi';
import { createInsertSchema, createSelectSchema } from 'drizzle-zod';
import { ResponseInstant } from '../../core/instant-schema.ts';
import { PageQuery } from '../../core/pagination.ts';
import { items } from './items.table.ts';

/** Money as a decimal string ("19.99"): a JSON number would pass through a float. */
export const Price = z
  .string()
  .regex(/^\d{1,10}(\.\d{1,2})?$/, 'must be a decimal string with at most 2 decimals, e.g. "19.99"')
  .openapi({ example: '19.99' });

const tag = z.string().trim().toLowerCase().min(1).max(40).openapi({ example: 'garden' });

const exampleItem = {
  id: '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e',
  name: 'Watering can',
  description: 'Ten litres, galvanised steel.',
  price: '24.50',
  tags: ['garden', 'tools'],
  status: 'active' as const,
  version: 1,
  createdAt: new Date('2026-01-01T12:00:00Z'),
  updatedAt: new Date('2026-01-01T12:00:00Z'),
};

/** What a client sees of an item: the row, without its owner. */
export const ItemPublic = createSelectSchema(items, {
  price: () => z.string(),
  // Coerced, so a response replayed from its stored JSON reads back the same.
  createdAt: () => ResponseInstant,
  updatedAt: () => ResponseInstant,
})
  .omit({ ownerId: true })
  .openapi('ItemPublic', { example: exampleItem });

export const ItemStatus = ItemPublic.shape.status;

/** The fields a client may set, derived from the table, tightened for input. */
export const ItemCreate = createInsertSchema(items, {
  name: (schema) => schema.trim().min(1).max(200).openapi({ example: 'Watering can' }),
  description: (schema) => schema.max(2000).openapi({ example: 'Ten litres, galvanised steel.' }),
  price: () => Price,
  tags: () => z.array(tag).max(20),
})
  .pick({ name: true, description: true, price: true, tags: true, status: true })
  // drizzle-zod forgets that refined columns with defaults are optional (drizzle-orm#4901).
  .partial({ description: true, tags: true, status: true })
  .strict()
  .openapi('ItemCreate', {
    example: {
      name: 'Watering can',
      description: 'Ten litres, galvanised steel.',
      price: '24.50',
      tags: ['garden'],
    },
  });

export const ItemUpdate = ItemCreate.partial()
  .strict()
  .refine((value) => Object.keys(value).length > 0, {
    message: 'send at least one field to change',
  })
  .openapi('ItemUpdate', { example: { price: '19.99', status: 'archived' } });

export const ItemSort = z.enum(['createdAt', 'name', 'price']);

export const ItemListQuery = PageQuery.extend({
  sort: ItemSort.default('createdAt').openapi({
    param: { name: 'sort', in: 'query' },
    example: 'createdAt',
  }),
  order: z
    .enum(['asc', 'desc'])
    .default('desc')
    .openapi({ param: { name: 'order', in: 'query' }, example: 'desc' }),
  q: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .optional()
    .openapi({
      param: { name: 'q', in: 'query' },
      description: 'Text the name contains (any case).',
      example: 'can',
    }),
  tag: tag.optional().openapi({ param: { name: 'tag', in: 'query' } }),
  status: ItemStatus.optional().openapi({ param: { name: 'status', in: 'query' } }),
  minPrice: Price.optional().openapi({ param: { name: 'minPrice', in: 'query' } }),
  maxPrice: Price.optional().openapi({ param: { name: 'maxPrice', in: 'query' } }),
});

export const ItemPage = z
  .object({ data: z.array(ItemPublic), nextCursor: z.string().nullable() })
  .openapi('ItemPage', { example: { data: [exampleItem], nextCursor: null } });

export const ItemStats = z
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

/** A position in a cursor, by its sort value's type: a bad one is a 422, never SQL's error. */
const positionSchema = <V extends z.ZodType>(value: V) => z.object({ value, id: z.uuid() });

/** Built once: a zod schema costs more to build than to run, and lists are hot. */
const POSITIONS = {
  createdAt: positionSchema(z.iso.datetime()),
  name: positionSchema(z.string()),
  price: positionSchema(Price),
} as const;

/** Where a page of items ends, for the cursor: the last row's sort value and id. */
export function ItemPosition<S extends ItemSort>(sort: S): (typeof POSITIONS)[S] {
  return POSITIONS[sort];
}

export type ItemCreate = z.output<typeof ItemCreate>;
export type ItemUpdate = z.output<typeof ItemUpdate>;
export type ItemListQuery = z.output<typeof ItemListQuery>;
export type ItemSort = z.output<typeof ItemSort>;
export type ItemStats = z.output<typeof ItemStats>;
export type ItemPosition = z.output<ReturnType<typeof ItemPosition>>;
