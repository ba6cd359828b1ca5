/**
 * What is stored reads back as it was sent. Every string field of every JSON body the
 * document lists gets, one at a time, text that any free-text field may hold but that each
 * layer between the client and PostgreSQL has its own way of mangling (escapes, quotes, the
 * word `null` in an array, astral and combining characters, line breaks); where the answer
 * carries the same field, it must carry the text unchanged, and so must the resource its
 * `Location` names, read again. A reader that dropped the backslashes of a `text[]` column
 * (decision 106) answered every such request with other text.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createApp } from '../src/app.ts';
import { unlimitedRateLimiter } from '../src/core/rate-limit/rate-limiter.ts';
import { createTestDeps } from './support/deps.ts';
import { type FieldPath, stringFields, valueAt, withValueAt } from './support/hostile-text.ts';
import {
  documentedRequest,
  exampleOf,
  jsonMedia,
  listOperations,
  type OpenApiDocument,
} from './support/openapi.ts';
import { walkFixtures } from './support/walk-fixtures.ts';

/**
 * Awkward, not hostile: each is valid text a name or a tag may hold, already trimmed and in
 * lower case (fields that normalise text must hand it back unchanged), and at most 40
 * characters long (a tag's limit).
 */
const AWKWARD_TEXTS: readonly { name: string; value: string }[] = [
  { name: 'backslashes, quotes, braces and a comma', value: 'a\\b "q" {c,d} \\\\e' },
  { name: 'the word null', value: 'null' },
  { name: "an apostrophe and LIKE's wildcards", value: "it's 100% _x_" },
  { name: 'astral and combining characters', value: 'e\u0301 \u{1f642} \u{20bb7} \u00df' },
  { name: 'line breaks, a tab and markup', value: 'one\ntwo\r\nthree\u2028\tfour <b>&amp;</b>' },
];

const deps = await createTestDeps();
after(() => deps.close());
// Hundreds of requests from one administrator: limits are tested elsewhere.
const app = createApp({ ...deps, rateLimiter: unlimitedRateLimiter() });
const { admin, pathIds } = await walkFixtures(deps);

const document = (await (await app.request('/openapi.json')).json()) as OpenApiDocument;
/** Each operation with a JSON body, and its (first) JSON media type. */
const operations = listOperations(document).flatMap((op) => {
  const [json] = jsonMedia(op.requestBody?.content);
  return json ? [{ op, mediaType: json[0], media: json[1] }] : [];
});

/** What came back where the answer, and the resource it names, carry the field. */
async function roundTrip(
  { op, mediaType, media }: (typeof operations)[number],
  field: FieldPath,
  text: string,
): Promise<unknown[]> {
  const { url, init } = documentedRequest(
    document,
    op,
    admin.headers,
    () => pathIds[op.path] ?? 'x',
  );
  const body = withValueAt(exampleOf(document, media) ?? {}, field, text);
  const response = await app.request(url, {
    ...init,
    body: JSON.stringify(body),
    headers: { ...admin.headers, 'content-type': mediaType },
  });
  const type = response.headers.get('content-type') ?? '';
  if (response.status >= 300 || !type.includes('json')) {
    await response.body?.cancel();
    return [];
  }
  const answers = [valueAt(await response.json(), field)];
  const location = response.headers.get('location');
  if (location?.startsWith('/')) {
    const reread = await app.request(location, { headers: admin.headers });
    if (reread.ok && (reread.headers.get('content-type') ?? '').includes('json')) {
      answers.push(valueAt(await reread.json(), field));
    } else {
      await reread.body?.cancel();
    }
    // Gone again, so the next case's example (the same name) is not a conflict.
    const removed = await app.request(location, { method: 'DELETE', headers: admin.headers });
    await removed.body?.cancel();
  }
  return answers.filter((answer) => answer !== undefined);
}

describe('text sent to every string field reads back unchanged', () => {
  const compared = new Set<string>();
  for (const walked of operations) {
    const { op } = walked;
    for (const field of stringFields(document, walked.media.schema)) {
      for (const text of AWKWARD_TEXTS) {
        test(`${op.label}: ${field.join('.')} holding ${text.name}`, async () => {
          const answers = await roundTrip(walked, field, text.value);
          for (const answer of answers) {
            assert.deepEqual(
              answer,
              text.value,
              `${op.label} ${field.join('.')}: sent ${JSON.stringify(text.value)}, read back ${JSON.stringify(answer)}`,
            );
          }
          if (answers.length > 0) compared.add(`${op.label} ${field.join('.')}`);
        });
      }
    }
  }

  test('the fields a client stores were compared, so the walk reached them', () => {
    for (const expected of [
      'POST /v1/items name',
      'POST /v1/items description',
      'POST /v1/items tags.0',
      'PATCH /v1/items/{id} name',
      'PATCH /v1/items/{id} tags.0',
      'POST /v1/api-keys name',
    ]) {
      assert.ok(compared.has(expected), `${expected} was not compared; compared: ${[...compared]}`);
    }
  });

  test('the walk kept its credentials', async () => {
    const response = await app.request('/v1/users/me', { headers: admin.headers });
    assert.equal(response.status, 200);
  });
});
