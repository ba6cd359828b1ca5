/**
 * What `npm run bench` loads with wrk. A scenario is one or more variants (an app and the
 * load sent to it) measured side by side, round after round; every variant's rate is
 * compared with the scenario's baseline variant, and the ratio with the scenario's aim.
 */
import type { Seed } from './seed.ts';

/** The servers the bench starts (see index.ts). */
export type AppName =
  | 'full'
  | 'bare'
  | 'open'
  | 'bare-items'
  | 'bare-items-again'
  | 'upstream'
  | 'bare-proxy';

/** The model the full server offers in the gateway scenarios (see index.ts). */
export const BENCH_MODEL = 'bench-model';

/**
 * Stands in a request body for a value unique to each request sent (wrk: a per-run token,
 * the thread and a counter), so writes of a unique name never collide.
 */
export const UNIQUE = '{{unique}}';

/** One HTTP request, as wrk sends it over and over. */
export interface BenchRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query string. */
  path: string;
  headers?: Record<string, string>;
  /** May hold `UNIQUE`, replaced per request. */
  body?: string;
  /** The status a correct answer has; checked once before the load. The variant's unless told. */
  expectStatus?: number;
  /** Top-level response fields that differ between variants by nature (ids, times). */
  ignoreFields?: string[];
  /** False: the bodies differ by nature (event streams with ids and times); not compared. */
  compare?: boolean;
}

/** Several requests in a fixed proportion: wrk picks one per request, by weight. */
export interface BenchMix {
  mix: { weight: number; label: string; request: BenchRequest }[];
}

export type BenchLoad = BenchRequest | BenchMix;

/** A scenario measuring the machine rather than the template: it has a control variant. */
export function isControl(scenario: Scenario): boolean {
  return scenario.variants.some((variant) => variant.control);
}

export function isMix(load: BenchLoad): load is BenchMix {
  return 'mix' in load;
}

/** Every request a load sends. */
export function requestsOf(load: BenchLoad): BenchRequest[] {
  return isMix(load) ? load.mix.map((entry) => entry.request) : [load];
}

export interface Variant {
  /** Shown in the tables; unique within the scenario. */
  label: string;
  app: AppName;
  request: BenchLoad;
  /** The status a correct answer has; checked once before the load. 200 unless told. */
  expectStatus?: number;
  /**
   * The baseline's own program in a second process: its ratio to the baseline is what this
   * machine makes of the same code in this run (decision 112), shown beside the others and
   * held to no aim.
   */
  control?: boolean;
}

export interface Scenario {
  /** Shown in the tables. */
  name: string;
  variants: Variant[];
  /** The variant the others are divided by; none: figures only, no ratio. */
  baseline?: string;
  /** Every other variant's req/s must be at least this share of the baseline's. */
  aim?: number;
  /** Every other variant's p99 must be at most this multiple of the baseline's. */
  p99Aim?: number;
  /** Shown under the table. */
  note?: string;
}

/** Every scenario, built around the seeded user, credentials and items. */
export function scenarios(seed: Seed): Scenario[] {
  const jwt = { authorization: `Bearer ${seed.token}` };
  const key = { 'x-api-key': seed.apiKey };
  const itemPath = `/v1/items/${seed.itemId}`;
  const listPath = '/v1/items?limit=20';
  // A validated write: a unique name each time, so never a 409.
  const write = (headers: Record<string, string>): BenchRequest => ({
    method: 'POST',
    path: '/v1/items',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: `Bench write ${UNIQUE}`,
      description: 'Written by npm run bench.',
      price: '12.50',
      tags: ['bench', 'write'],
    }),
    expectStatus: 201,
    ignoreFields: ['id', 'name', 'createdAt', 'updatedAt'],
  });
  // A chat completion through the gateway or the bare proxy; never deterministic (no
  // temperature 0, no seed), so never answered from the gateway's cache or shared.
  const chat = (headers: Record<string, string>, stream: boolean): BenchRequest => ({
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: BENCH_MODEL,
      messages: [{ role: 'user', content: 'Say something short about benchmarks.' }],
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    }),
    ignoreFields: ['id', 'created', 'model', 'system_fingerprint', 'service_tier'],
    compare: !stream,
  });
  const aiKey = { authorization: `Bearer ${seed.apiKey}` };
  const mixed = (headers: Record<string, string>): BenchMix => ({
    mix: [
      { weight: 7, label: 'read', request: { path: itemPath, headers } },
      { weight: 2, label: 'list', request: { path: listPath, headers } },
      { weight: 1, label: 'write', request: write(headers) },
    ],
  });
  return [
    {
      // First, while the full server is not yet loaded: as a third variant beside it, the
      // control left it idle long enough between rounds for its quiet release (decision 114).
      name: 'GET /v1/items/{id}, bare against itself',
      variants: [
        { label: 'bare', app: 'bare-items', request: { path: itemPath } },
        {
          label: 'bare again',
          app: 'bare-items-again',
          request: { path: itemPath },
          control: true,
        },
      ],
      baseline: 'bare',
      note: "the machine's noise in this run: the item read's baseline against the same program in a second process (not with --ci)",
    },
    {
      name: 'GET /livez',
      variants: [
        { label: 'full', app: 'full', request: { path: '/livez' } },
        { label: 'bare', app: 'bare', request: { path: '/livez' } },
      ],
      baseline: 'bare',
      aim: 0.6,
      note: 'health: every middleware, a route, one access-log line; no I/O',
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
      aim: 0.85,
      p99Aim: 1.3,
      note: 'authenticated read: one row by id and owner; bare: hono + postgres.js, the same SQL, owner from env',
    },
    {
      name: 'GET /v1/items?limit=20',
      variants: [
        { label: 'full + key', app: 'full', request: { path: listPath, headers: key } },
        { label: 'bare', app: 'bare-items', request: { path: listPath } },
      ],
      baseline: 'bare',
      aim: 0.75,
      note: `paginated list: 21 of the owner's ${seed.itemCount.toLocaleString('en-US')}+ rows, newest first, and a signed next cursor; bare: the same SQL and cursor`,
    },
    {
      name: 'POST /v1/items',
      variants: [
        { label: 'full + key', app: 'full', request: write(key) },
        { label: 'bare', app: 'bare-items', request: write({}) },
      ],
      baseline: 'bare',
      aim: 0.7,
      note: 'validated write: a JSON body with a unique name per request (wrk Lua: run, thread, counter), 201; full: zod body, insert via drizzle, stats cache forgotten (a Redis DEL); bare: JSON.parse, a type check, the same INSERT … RETURNING with postgres.js',
    },
    {
      name: 'mixed 70/20/10',
      variants: [
        { label: 'full + key', app: 'full', request: mixed(key) },
        { label: 'bare', app: 'bare-items', request: mixed({}) },
      ],
      baseline: 'bare',
      aim: 0.75,
      note: "mixed: of every 10 requests, 7 GET /v1/items/{id}, 2 GET /v1/items?limit=20, 1 POST /v1/items (interleaved by smooth weighted round robin, per wrk thread); full's writes each forget the stats cache (a Redis DEL), here about one a turn, so each pays a whole command where the write alone shares one among a turn's writes (decision 132); bare has no cache",
    },
    {
      name: 'POST /v1/chat/completions',
      variants: [
        { label: 'gateway + key', app: 'full', request: chat(aiKey, false) },
        { label: 'bare proxy', app: 'bare-proxy', request: chat({}, false) },
      ],
      baseline: 'bare proxy',
      aim: 0.7,
      note: 'AI gateway, not streamed, against an upstream answering at once: key and scope, limits and budget reserved in Redis, guards, token count, the upstream call, the call recorded in PostgreSQL; bare proxy: hono passing the body to the same upstream with fetch',
    },
    {
      name: 'POST /v1/chat/completions (stream)',
      variants: [
        { label: 'gateway + key', app: 'full', request: chat(aiKey, true) },
        { label: 'bare proxy', app: 'bare-proxy', request: chat({}, true) },
      ],
      baseline: 'bare proxy',
      aim: 0.7,
      note: 'the same, streamed: 8 content chunks and a usage chunk, relayed event by event (the gateway parses each one, the proxy pipes bytes)',
    },
  ];
}

/** The mixed workload alone, for the soak. */
export function mixedScenario(seed: Seed): Scenario {
  const found = scenarios(seed).find((scenario) => scenario.name.startsWith('mixed'));
  if (!found) throw new Error('no mixed scenario');
  return found;
}
