import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { type AccessTokenClaims, accessTokens } from '../../../src/core/security/access-tokens.ts';
import type { Scope } from '../../../src/core/security/scopes.ts';

const KNOWN = new Set(['items:read', 'items:write']);
const catalog = { has: (name: string): name is Scope => KNOWN.has(name) };
const USER = '01a242fb-3311-71c3-82d2-8394742fc8dc';
const TTL_SECONDS = 900;
const SCOPES = ['items:read'] as Scope[];

function codec(kept?: number) {
  return accessTokens(randomBytes(32).toString('hex'), TTL_SECONDS, catalog, kept);
}

function claimsOf(result: AccessTokenClaims | 'expired' | 'invalid'): AccessTokenClaims {
  if (typeof result === 'string') assert.fail(`expected claims, got ${result}`);
  return result;
}

/** The token with the character at `index` replaced by another of the same alphabet. */
function altered(token: string, index: number): string {
  const swapped = token[index] === 'A' ? 'B' : 'A';
  return `${token.slice(0, index)}${swapped}${token.slice(index + 1)}`;
}

/** When every token here is issued, and a time `seconds` after it. */
const issued = new Date('2026-12-04T12:00:00.000Z');
const at = (seconds: number) => new Date(issued.getTime() + seconds * 1000);

describe('access tokens: verified tokens kept (decision 116)', () => {
  test('verifies what it issued, the same claims each time', async () => {
    const tokens = codec();
    const { token } = await tokens.issue(USER, SCOPES, issued, 'session-1');
    const first = claimsOf(tokens.verify(token, at(1)));
    assert.deepEqual(first, {
      userId: USER,
      scopes: ['items:read'],
      jti: first.jti,
      expiresAt: at(TTL_SECONDS),
      sessionId: 'session-1',
    });
    assert.deepEqual(claimsOf(tokens.verify(token, at(2))), first);
  });

  test('a kept token expires with the clock: the time is checked on every verification', async () => {
    const tokens = codec();
    const { token } = await tokens.issue(USER, SCOPES, issued);
    claimsOf(tokens.verify(token, at(10)));
    assert.equal(tokens.verify(token, at(TTL_SECONDS)), 'expired');
    assert.equal(tokens.verify(token, at(TTL_SECONDS + 3600)), 'expired');
  });

  test('a kept token seen by a clock a minute or more before its issue is refused', async () => {
    const tokens = codec();
    const { token } = await tokens.issue(USER, SCOPES, issued);
    claimsOf(tokens.verify(token, issued));
    assert.equal(tokens.verify(token, at(-61)), 'invalid');
    claimsOf(tokens.verify(token, at(-59)));
  });

  test('only the exact text finds a kept token: every altered character is refused', async () => {
    const tokens = codec();
    const { token } = await tokens.issue(USER, SCOPES, issued);
    claimsOf(tokens.verify(token, issued));
    const [header = '', payload = ''] = token.split('.');
    // The first and last characters of each part: header, payload and signature.
    const positions = [
      0,
      header.length - 1,
      header.length + 1,
      header.length + payload.length,
      header.length + payload.length + 2,
      token.length - 1,
    ];
    for (const index of positions) {
      assert.equal(tokens.verify(altered(token, index), issued), 'invalid', `at ${index}`);
    }
    assert.equal(tokens.verify(`${token}A`, issued), 'invalid');
    assert.equal(tokens.verify(token.slice(0, -1), issued), 'invalid');
    claimsOf(tokens.verify(token, issued));
  });

  test('another secret does not share what one verified', async () => {
    const issuer = codec();
    const other = codec();
    const { token } = await issuer.issue(USER, SCOPES, issued);
    claimsOf(issuer.verify(token, issued));
    assert.equal(other.verify(token, issued), 'invalid');
  });

  test('the claims a verification hands out cannot be changed for the next request', async () => {
    const tokens = codec();
    const { token } = await tokens.issue(USER, SCOPES, issued);
    const claims = claimsOf(tokens.verify(token, issued));
    assert.ok(Object.isFrozen(claims) && Object.isFrozen(claims.scopes));
    assert.equal(Reflect.set(claims, 'userId', 'someone else'), false);
    assert.equal(Reflect.set(claims.scopes, 0, 'items:write'), false);
    const again = claimsOf(tokens.verify(token, issued));
    assert.equal(again.userId, USER);
    assert.deepEqual(again.scopes, ['items:read']);
  });

  test('more tokens than it keeps: the oldest are verified again, each with its own claims', async () => {
    const tokens = codec(2);
    const users = [
      '01a242fb-0000-7000-8000-000000000001',
      '01a242fb-0000-7000-8000-000000000002',
      '01a242fb-0000-7000-8000-000000000003',
    ];
    const issuedTokens = await Promise.all(
      users.map(async (user) => (await tokens.issue(user, SCOPES, issued)).token),
    );
    for (const token of issuedTokens) claimsOf(tokens.verify(token, issued));
    for (const [index, token] of issuedTokens.entries()) {
      assert.equal(claimsOf(tokens.verify(token, issued)).userId, users[index]);
    }
  });

  test('a scope the service no longer knows grants nothing, from the first verification on', async () => {
    const tokens = codec();
    const { token } = await tokens.issue(USER, ['items:read', 'gone:scope' as Scope], issued);
    assert.deepEqual(claimsOf(tokens.verify(token, issued)).scopes, ['items:read']);
    assert.deepEqual(claimsOf(tokens.verify(token, issued)).scopes, ['items:read']);
  });
});
