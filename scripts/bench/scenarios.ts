/**
 * What `npm run bench` loads with wrk. A scenario is one or more variants (an app and the
 * request sent to it) measured side by side, round after round; every variant's rate is
 * compared with the scenario's baseline variant, and the ratio with the scenario's aim.
 */
import type { Seed } from './seed.ts';

/** The servers the bench starts (see index.ts). */
export type AppName = 'full' | 'bare' | 'open' | 'bare-items';

/** One HTTP request, as wrk sends it over and over. */
export interface BenchRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query string. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface Variant {
  /** Shown in the tables; unique within the scenario. */
  label: string;
  app: AppName;
  request: BenchRequest;
  /** The status a correct answer has; checked once before the load. 200 unless told. */
  expectStatus?: number;
}

export interface Scenario {
  /** Shown in the tables. */
  name: string;
  variants: Variant[];
  /** The variant the others are divided by; none: figures only, no ratio. */
  baseline?: string;
  /** Every other variant's req/s must be at least this share of the baseline's. */
  aim?: number;
  /** Shown under the table. */
  note?: string;
}

/** Every scenario, built around the seeded user, credentials and items. */
export function scenarios(seed: Seed): Scenario[] {
  const jwt = { authorization: `Bearer ${seed.token}` };
  const key = { 'x-api-key': seed.apiKey };
  const itemPath = `/v1/items/${seed.itemId}`;
  const listPath = '/v1/items?limit=20';
  return [
    {
      name: 'GET /livez',
      variants: [
        { label: 'full', app: 'full', request: { path: '/livez' } },
        { label: 'bare', app: 'bare', request: { path: '/livez' } },
      ],
      baseline: 'bare',
      aim: 0.85,
      note: 'every middleware, a route, one access-log line; no I/O',
    },
    {
      name: 'GET /readyz',
      variants: [{ label: 'full', app: 'full', request: { path: '/readyz' } }],
      note: 'a PostgreSQL and a Redis round trip per request',
    },
    {
      name: 'POST /nothing-here',
      variants: [
        {
          label: 'full',
          app: 'full',
          expectStatus: 404,
          request: {
            method: 'POST',
            path: '/nothing-here',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'bench', tags: ['a', 'b'] }),
          },
        },
      ],
      note: 'POST with a JSON body to an unknown path: the problem-document error path (non-2xx)',
    },
    {
      name: 'GET /v1/users/me',
      variants: [
        { label: 'jwt', app: 'full', request: { path: '/v1/users/me', headers: jwt } },
        { label: 'api key', app: 'full', request: { path: '/v1/users/me', headers: key } },
        { label: 'open', app: 'open', request: { path: '/v1/users/me' } },
      ],
      baseline: 'open',
      aim: 0.85,
      note: 'jwt: Authorization: Bearer (HS256 verified per request); api key: X-API-Key (record and account cached); open: the same app built with auth: actAs(the seeded user)',
    },
    {
      name: 'GET /v1/items/{id}',
      variants: [
        { label: 'full + key', app: 'full', request: { path: itemPath, headers: key } },
        { label: 'bare', app: 'bare-items', request: { path: itemPath } },
      ],
      baseline: 'bare',
      aim: 0.75,
      note: 'one row by id and owner; bare: hono + postgres.js, the same SQL, owner from env',
    },
    {
      name: 'GET /v1/items?limit=20',
      variants: [
        { label: 'full + key', app: 'full', request: { path: listPath, headers: key } },
        { label: 'bare', app: 'bare-items', request: { path: listPath } },
      ],
      baseline: 'bare',
      aim: 0.75,
      note: `21 of the owner's ${seed.itemCount.toLocaleString('en-US')} rows, newest first, and a signed next cursor; bare: the same SQL and cursor`,
    },
  ];
}
