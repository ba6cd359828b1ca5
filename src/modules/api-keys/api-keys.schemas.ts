import { z } from '@hono/zod-openapi';

/**
 * A scope's name. The scopes come from the modules, so the document's `Scope` schema lists
 * them when it is generated; the service refuses a name no module declares.
 */
const ScopeName = z
  .string()
  .regex(/^[a-z][a-z0-9-]*(:[a-z][a-z0-9-]*)?$/, 'must be a scope name, e.g. items:read')
  .openapi('Scope', { example: 'items:read' });

const exampleKey = {
  id: '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e',
  name: 'CI deploys',
  prefix: 'hsk_Qm0m8c1c',
  scopes: ['items:read'],
  expiresAt: new Date('2099-01-01T00:00:00Z'),
  lastUsedAt: null,
  createdAt: new Date('2026-01-01T12:00:00Z'),
};

export const ApiKeyCreate = z
  .object({
    name: z.string().trim().min(1).max(100),
    scopes: z.array(ScopeName).min(1).max(50),
    expiresAt: z.iso
      .datetime({ offset: true })
      .optional()
      .openapi({ description: 'When the key stops working; never when absent.' }),
  })
  .openapi('ApiKeyCreate', {
    example: { name: 'CI deploys', scopes: ['items:read'], expiresAt: '2099-01-01T00:00:00Z' },
  });

export const ApiKeyPublic = z
  .object({
    id: z.uuid(),
    name: z.string(),
    prefix: z
      .string()
      .openapi({ description: 'The first characters of the key, to tell keys apart.' }),
    scopes: z.array(z.string()),
    expiresAt: z.date().nullable(),
    lastUsedAt: z.date().nullable(),
    createdAt: z.date(),
  })
  .openapi('ApiKeyPublic', { example: exampleKey });

export const ApiKeyCreated = ApiKeyPublic.extend({
  key: z
    .string()
    .openapi({ description: 'The key itself. It is shown this once and never again.' }),
}).openapi('ApiKeyCreated', {
  example: { ...exampleKey, key: 'hsk_Qm0m8c1cU3c9mJ6f2kq0rQb8mZf3l1Yw0vK5s7d2aEx' },
});

export const ApiKeyList = z
  .object({ data: z.array(ApiKeyPublic) })
  .openapi('ApiKeyList', { example: { data: [exampleKey] } });
