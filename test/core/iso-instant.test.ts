/**
 * The response's instants are written by our own formatter: it must give toISOString's text
 * for every instant, which a whole 400-year cycle of days and random instants in all four-digit
 * years pin, and hand the rest to toISOString.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isoInstant } from '../../src/core/iso-instant.ts';
import { seededRandom } from '../support/seeded-random.ts';

const DAY_MS = 86_400_000;
const YEAR_ZERO = Date.parse('0000-01-01T00:00:00.000Z');

describe('isoInstant', () => {
  test('gives toISOString’s text at the edges of days, months, years and eras', () => {
    const texts = [
      '0000-01-01T00:00:00.000Z',
      '0000-02-29T12:00:00.000Z',
      '0001-01-01T00:00:00.000Z',
      '0999-12-31T23:59:59.999Z',
      '1000-01-01T00:00:00.000Z',
      '1600-02-29T00:00:00.000Z',
      '1900-02-28T23:59:59.999Z',
      '1900-03-01T00:00:00.000Z',
      '1969-12-31T23:59:59.999Z',
      '1970-01-01T00:00:00.000Z',
      '2000-02-29T01:02:03.004Z',
      '2026-01-02T03:04:05.678Z',
      '2100-03-01T00:00:00.000Z',
      '9999-12-31T23:59:59.999Z',
    ];
    for (const text of texts) assert.equal(isoInstant(new Date(text)), text);
  });

  test('gives toISOString’s text for every day of a 400-year cycle, and around 1970', () => {
    const random = seededRandom(1);
    for (const start of [YEAR_ZERO, Date.parse('1800-01-01T00:00:00.000Z')]) {
      for (let day = 0; day < 146_097; day++) {
        const date = new Date(start + day * DAY_MS + Math.floor(random() * DAY_MS));
        assert.equal(isoInstant(date), date.toISOString());
      }
    }
    for (let ms = -5_000; ms <= 5_000; ms++) {
      assert.equal(isoInstant(new Date(ms)), new Date(ms).toISOString());
    }
  });

  test('gives toISOString’s text for random instants in every four-digit year', () => {
    const random = seededRandom(2);
    const until = Date.parse('+010000-01-01T00:00:00.000Z');
    for (let index = 0; index < 200_000; index++) {
      const date = new Date(YEAR_ZERO + Math.floor(random() * (until - YEAR_ZERO)));
      assert.equal(isoInstant(date), date.toISOString());
    }
  });

  test('hands years outside 0000-9999 to toISOString, and refuses an invalid date as it does', () => {
    for (const ms of [Date.parse('+010000-01-01T00:00:00.000Z'), YEAR_ZERO - 1]) {
      assert.equal(isoInstant(new Date(ms)), new Date(ms).toISOString());
    }
    assert.equal(
      isoInstant(new Date('+010000-01-01T00:00:00.000Z')),
      '+010000-01-01T00:00:00.000Z',
    );
    assert.equal(
      isoInstant(new Date('-000001-12-31T23:59:59.999Z')),
      '-000001-12-31T23:59:59.999Z',
    );
    assert.throws(() => isoInstant(new Date(Number.NaN)), RangeError);
  });
});
