import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { withoutTrailingSlashes } from '../../src/core/url-encoding.ts';

describe('withoutTrailingSlashes', () => {
  test('drops the slashes a URL ends with, and only those', () => {
    assert.equal(
      withoutTrailingSlashes('https://api.example.com/v1///'),
      'https://api.example.com/v1',
    );
    assert.equal(withoutTrailingSlashes('https://api.example.com'), 'https://api.example.com');
    assert.equal(withoutTrailingSlashes('//a//b'), '//a//b');
    assert.equal(withoutTrailingSlashes('///'), '');
    assert.equal(withoutTrailingSlashes(''), '');
  });

  test('a long run of slashes inside the text is passed once, not once from each of its starts', () => {
    // `/\/+$/` took a second for 50,000 slashes before another character, and grows with
    // the square: a million would outlast the test's timeout.
    const text = `${'/'.repeat(1_000_000)}x/`;
    assert.equal(withoutTrailingSlashes(text), text.slice(0, -1));
  });
});
