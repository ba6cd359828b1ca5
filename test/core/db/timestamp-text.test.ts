import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import postgres from 'postgres';
import { timestamptzFromText } from '../../../src/core/db/timestamp-text.ts';
import { TEST_DATABASE_URL } from '../../support/database.ts';
import { seededRandom } from '../../support/seeded-random.ts';

const pad = (value: number, width: number) => String(value).padStart(width, '0');

/**
 * `instant` (ms) with `micros` more as PostgreSQL writes it at `offsetMinutes` east of UTC:
 * the fraction without trailing zeros, none at all when zero, the offset as ±HH or ±HH:MM.
 */
function pgText(instant: number, micros: number, offsetMinutes: number): string {
  const local = new Date(instant + offsetMinutes * 60_000);
  const fraction = `${pad(local.getUTCMilliseconds(), 3)}${pad(micros, 3)}`.replace(/0+$/, '');
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const minutes = abs % 60;
  return (
    `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)} ` +
    `${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}` +
    `${fraction === '' ? '' : `.${fraction}`}${sign}${pad(Math.floor(abs / 60), 2)}` +
    `${minutes === 0 ? '' : `:${pad(minutes, 2)}`}`
  );
}

describe('timestamptzFromText', () => {
  test('reads the instant V8 reads (drizzle’s reading) for any text PostgreSQL writes', () => {
    const random = seededRandom(110);
    const from = Date.UTC(1000, 0, 1, 12);
    const until = Date.UTC(9999, 11, 30);
    for (let run = 0; run < 20_000; run++) {
      const instant = Math.floor(from + random() * (until - from));
      const micros = random() < 0.5 ? 0 : Math.floor(random() * 1_000);
      // Whole hours, and the quarter and half hours some zones keep.
      const offset = (Math.floor(random() * 27) - 12) * 60 + (run % 4) * 15;
      const text = pgText(instant, micros, offset);
      const read = timestamptzFromText(text);
      assert.ok(read, text);
      assert.equal(read.getTime(), instant, text);
      assert.equal(read.getTime(), new Date(text).getTime(), text);
    }
  });

  test('leaves to drizzle what it does not read as PostgreSQL’s usual text', () => {
    for (const text of [
      'infinity',
      '-infinity',
      '0044-03-15 12:00:00+00 BC',
      '12026-01-01 00:00:00+00',
      '0999-12-31 23:59:59+00',
      '2026-12-04 07:59:38.413+05:53:28',
      '2026-12-04 07:59:38.+00',
      '2026-12-04 07:59:38.1234567+00',
      '2026-12-04 07:59:38.413Z',
      '2026-12-04T07:59:38.413+00',
      '2026-12-04 07:59:38.413+00 ',
      '2026-13-04 07:59:38.413+00',
      '2026-12-04 24:00:00.000+00',
      '2026-12-04 07:5a:38.413+00',
      '12/04/2026 07:59:38.413 UTC',
      'Fri 04 Dec 07:59:38.413 2026 UTC',
    ]) {
      assert.equal(timestamptzFromText(text), undefined, text);
    }
  });

  test('reads what PostgreSQL itself writes, in zones east and west of UTC', async () => {
    const client = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      const instants = [
        '2026-12-04T07:59:38.413Z',
        '2026-12-04T07:59:38.410Z',
        '2026-12-04T07:59:38.400Z',
        '2026-12-04T07:59:38.000Z',
        '1999-12-31T23:59:59.999Z',
        '2024-02-29T00:00:00.001Z',
        '1000-01-01T12:00:00.000Z',
      ];
      for (const zone of ['UTC', 'Asia/Kolkata', 'America/Los_Angeles', 'Asia/Kathmandu']) {
        await client.unsafe(`set time zone '${zone}'`);
        for (const iso of instants) {
          const [row] = await client.unsafe<{ text: string }[]>(
            'select $1::timestamptz(3)::text as text',
            [iso],
          );
          const text = row?.text ?? '';
          // Before zones kept standard time, PostgreSQL writes the local mean time's offset
          // to the second (`+05:53:28`), which V8 does not read either: left to drizzle.
          const expected = /[+-]\d\d:\d\d:\d\d$/.test(text) ? undefined : iso;
          assert.equal(timestamptzFromText(text)?.toISOString(), expected, `${zone}: ${text}`);
        }
      }
    } finally {
      await client.end();
    }
  });
});
