/**
 * The data the authenticated scenarios of `npm run bench` read: one user, an access token
 * signed with the secret the full server verifies with, an API key with every scope of the
 * user, and that user's items. Written through the service functions, as the API would.
 */
import { randomBytes } from 'node:crypto';
import { openDatabase } from '../../src/core/db/database.ts';
import { uuidv7 } from '../../src/core/ids.ts';
import { accessTokens } from '../../src/core/security/access-tokens.ts';
import { createApiKey } from '../../src/modules/api-keys/api-keys.service.ts';
import { items } from '../../src/modules/items/items.table.ts';
import { createUser } from '../../src/modules/users/users.service.ts';
import { SCOPES } from '../../src/modules.ts';

/** Long enough to outlast any bench run (the server's own TTL only matters when it issues). */
const TOKEN_TTL_SECONDS = 3_600;
const STATUSES = ['draft', 'active', 'archived'] as const;

export interface Seed {
  userId: string;
  /** An access token (JWT) for the user, with every scope of the role. */
  token: string;
  /** An API key for the user, with every scope of the role. */
  apiKey: string;
  /** The scopes of the token and the key. */
  scopes: string[];
  /** One of the user's items, for GET /v1/items/{id}. */
  itemId: string;
  itemCount: number;
}

export async function seedBenchData(
  databaseUrl: string,
  jwtSecret: string,
  itemCount = 1_000,
): Promise<Seed> {
  const database = await openDatabase({ url: databaseUrl, poolMax: 2, dataDir: '.data' });
  try {
    const { db } = database;
    const user = await createUser(db, {
      email: `bench-${randomBytes(4).toString('hex')}@example.com`,
      password: randomBytes(16).toString('hex'),
      name: 'Bench User',
      role: 'user',
    });
    const scopes = SCOPES.forRole(user.role);
    const { token } = await accessTokens(jwtSecret, TOKEN_TTL_SECONDS, SCOPES).issue(
      user.id,
      scopes,
      new Date(),
    );
    const { key } = await createApiKey(db, {
      userId: user.id,
      name: 'bench',
      scopes,
      expiresAt: undefined,
      allowedScopes: new Set(scopes),
      known: SCOPES,
      now: new Date(),
    });
    // One bulk insert; a minute apart, so the newest-first order is the creation order.
    const start = Date.now() - itemCount * 60_000;
    const rows = Array.from({ length: itemCount }, (_, index) => {
      const createdAt = new Date(start + index * 60_000);
      return {
        id: uuidv7(createdAt.getTime()),
        ownerId: user.id,
        name: `Bench item ${String(index).padStart(4, '0')}`,
        description: index % 3 === 0 ? null : `Item number ${index}, seeded by npm run bench.`,
        price: `${(index % 500) + 1}.${String(index % 100).padStart(2, '0')}`,
        tags: index % 2 === 0 ? ['bench', 'even'] : ['bench'],
        status: STATUSES[index % STATUSES.length],
        createdAt,
        updatedAt: createdAt,
      };
    });
    const inserted = await db.insert(items).values(rows).returning({ id: items.id });
    const picked = inserted[Math.floor(inserted.length / 2)];
    if (!picked) throw new Error('no item was seeded');
    return {
      userId: user.id,
      token,
      apiKey: key,
      scopes,
      itemId: picked.id,
      itemCount: inserted.length,
    };
  } finally {
    await database.close();
  }
}
