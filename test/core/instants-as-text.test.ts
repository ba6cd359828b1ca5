/**
 * `instantsAsText`: a response's instants written as the text `JSON.stringify` gives them,
 * before it is serialised (decisions 091 and 092).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { instantsAsText } from '../../src/core/instants-as-text.ts';

describe('instantsAsText: a response’s instants written as text before it is serialised', () => {
  const at = new Date('2026-01-02T03:04:05.678Z');

  test('gives the text JSON.stringify writes for the value, at any depth', () => {
    const value = {
      id: 'a',
      createdAt: at,
      nested: { when: at, never: new Date(Number.NaN), list: [at, 'text', 1, null] },
      items: [{ at }, { at: null }],
      untouched: { a: 1 },
    };
    assert.equal(JSON.stringify(instantsAsText(value)), JSON.stringify(value));
    assert.deepEqual(instantsAsText(value), {
      id: 'a',
      createdAt: '2026-01-02T03:04:05.678Z',
      nested: {
        when: '2026-01-02T03:04:05.678Z',
        never: null,
        list: ['2026-01-02T03:04:05.678Z', 'text', 1, null],
      },
      items: [{ at: '2026-01-02T03:04:05.678Z' }, { at: null }],
      untouched: { a: 1 },
    });
  });

  test('changes nothing it is given, and hands back what holds no instant as it is', () => {
    const untouched = { a: 1, list: ['x'] };
    const value = { createdAt: at, untouched, items: [{ at }] };
    instantsAsText(value);
    assert.equal(value.createdAt, at);
    assert.equal(value.items[0]?.at, at);
    const written = instantsAsText(value) as typeof value;
    assert.equal(written.untouched, untouched, 'the same object, not a copy');
    assert.equal(instantsAsText(untouched), untouched);
  });

  test('leaves a Date with a toJSON or a toISOString of its own to it', () => {
    class LocalDay extends Date {
      override toJSON() {
        return this.toISOString().slice(0, 10);
      }
    }
    const patched = new Date(at);
    patched.toJSON = () => 'patched';
    const reformatted = new Date(at);
    reformatted.toISOString = () => 'reformatted';
    const value = { day: new LocalDay(at), patched, reformatted, at };
    assert.equal(JSON.stringify(instantsAsText(value)), JSON.stringify(value));
    assert.deepEqual(instantsAsText(value), {
      day: '2026-01-02',
      patched: 'patched',
      reformatted: 'reformatted',
      at: '2026-01-02T03:04:05.678Z',
    });
  });

  test('leaves other objects to their own toJSON', () => {
    class Money {
      toJSON() {
        return '1.00 EUR';
      }
    }
    const value = { price: new Money(), at };
    assert.equal(
      JSON.stringify(instantsAsText(value)),
      '{"price":"1.00 EUR","at":"2026-01-02T03:04:05.678Z"}',
    );
  });
});
