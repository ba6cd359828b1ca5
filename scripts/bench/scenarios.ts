/**
 * What `npm run bench` loads with wrk. Add a scenario here: it runs against the full app, and
 * also against the bare Hono app when `bare` is set (the bare app serves `GET /livez` only).
 */
export interface Scenario {
  /** Shown in the table. */
  name: string;
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query string. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Run against the bare app too and report the full/bare ratio. */
  bare?: boolean;
  /** Shown under the table. */
  note?: string;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'livez',
    path: '/livez',
    bare: true,
    note: 'every middleware, a route, one access-log line; no I/O',
  },
  {
    name: 'readyz',
    path: '/readyz',
    note: 'a PostgreSQL and a Redis round trip per request',
  },
  {
    name: 'post-404',
    method: 'POST',
    path: '/nothing-here',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', tags: ['a', 'b'] }),
    note: 'POST with a JSON body to an unknown path: the problem-document error path (non-2xx)',
  },
];
