/**
 * One limit for every process: two real API processes (`node src/server.ts`) share one
 * database and one Redis. A burst of requests split across both, all from 127.0.0.1, must
 * together get no more accepted answers than the policy allows in a window.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from '../../support/deps.ts';
import { type ApiPair, type ApiProcess, startApiPair } from '../../support/processes.ts';

/** The "token" policy of POST /v1/auth/token: 60 per 60 s per client address. */
const TOKEN_LIMIT = 60;
const REQUESTS = 200;
const CONCURRENCY = 16;

interface Outcome {
  process: string;
  status: number;
  /** What kind of answer: the rate limiter's 429, the login throttle's, a bad grant... */
  kind: string;
  ratelimit: string | null;
}

/** One failed password login (no such user) through `api`; never rejects. */
async function failedLogin(api: ApiProcess): Promise<Outcome> {
  try {
    const response = await fetch(`${api.base}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        // A new account each time, so no per-account counter gets in the way.
        username: `nobody-${randomBytes(6).toString('hex')}@example.com`,
        password: 'not the password',
      }).toString(),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Kept as text below.
    }
    const detail = String(body.detail ?? text.slice(0, 120));
    const kind =
      response.status === 429
        ? /Rate limit "token"/.test(detail)
          ? 'rate-limited'
          : `429 other: ${detail}`
        : response.status === 400 && body.error === 'invalid_grant'
          ? 'invalid_grant'
          : `${response.status}: ${detail}`;
    return {
      process: api.name,
      status: response.status,
      kind,
      ratelimit: response.headers.get('ratelimit'),
    };
  } catch (error) {
    return {
      process: api.name,
      status: 0,
      kind: `network error: ${(error as Error).message}`,
      ratelimit: null,
    };
  }
}

describe('the rate limit across two API processes', () => {
  let pair: ApiPair;
  let a: ApiProcess;
  let b: ApiProcess;

  before(async () => {
    pair = await startApiPair('rl-cross', {
      // The login throttle counts failed logins too; out of the way, so only the rate
      // limiter refuses.
      LOGIN_MAX_FAILURES_PER_IP: '100000',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '100000',
    });
    ({ a, b } = pair);
  });

  after(() => pair?.close());

  test(`${REQUESTS} concurrent logins split across both get at most ${TOKEN_LIMIT} past the limiter`, async (t) => {
    const apis = [a, b];
    const outcomes: Outcome[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (;;) {
          const index = next++;
          if (index >= REQUESTS) return;
          outcomes.push(await failedLogin(apis[index % 2] as ApiProcess));
        }
      }),
    );
    const elapsedMs = Math.round(performance.now() - started);

    // The shared window's count: every request of the burst, if it fell in one window.
    const redis = new Redis(TEST_REDIS_URL, { keyPrefix: pair.redisPrefix, lazyConnect: true });
    let windowCount: number;
    try {
      await redis.connect();
      windowCount = Number(await redis.get('ratelimit:token:ip:127.0.0.1'));
    } finally {
      redis.disconnect();
    }

    const tally = new Map<string, number>();
    for (const outcome of outcomes) {
      const key = `${outcome.process} ${outcome.kind}`;
      tally.set(key, (tally.get(key) ?? 0) + 1);
    }
    const accepted = outcomes.filter((outcome) => outcome.status !== 429);
    const acceptedBy = (name: string) => accepted.filter((o) => o.process === name).length;
    t.diagnostic(
      `${outcomes.length} requests in ${elapsedMs} ms; not refused by the limiter: ${accepted.length} (A ${acceptedBy('A')}, B ${acceptedBy('B')}); shared window count ${windowCount}`,
    );
    for (const [key, count] of [...tally].sort()) t.diagnostic(`  ${key}: ${count}`);

    assert.equal(outcomes.length, REQUESTS);
    // A window that ran out mid-burst would let a second allowance through; the shared
    // count says whether the whole burst fell in one window.
    const windows = windowCount === REQUESTS ? 1 : 2;
    if (windows > 1) t.diagnostic('the burst straddled two windows; the bound is doubled');
    assert.ok(
      accepted.length <= TOKEN_LIMIT * windows,
      `${accepted.length} answers got past a limit of ${TOKEN_LIMIT} (${windows} window(s))`,
    );
    assert.ok(acceptedBy('A') > 0 && acceptedBy('B') > 0, 'both processes served some');

    const unexpected = outcomes.filter(
      (outcome) => outcome.kind !== 'rate-limited' && outcome.kind !== 'invalid_grant',
    );
    assert.deepEqual(
      unexpected.map((outcome) => `${outcome.process} ${outcome.kind}`),
      [],
      'every answer is a bad grant or the limiter refusing',
    );
    if (windows === 1) {
      assert.equal(accepted.length, TOKEN_LIMIT, 'exactly the limit got through');
    }
    // Every refusal says nothing remains; the accepted answers count down to 0 together.
    const remaining = accepted
      .map((outcome) => /;r=(\d+);/.exec(outcome.ratelimit ?? '')?.[1])
      .map(Number)
      .sort((x, y) => x - y);
    if (windows === 1) {
      assert.deepEqual(
        remaining,
        Array.from({ length: TOKEN_LIMIT }, (_, index) => index),
        'each accepted answer saw a distinct remaining count, 0..limit-1',
      );
    }
  });
});
