import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findUnsafeText, holdsUnsafeText, textProblem } from '../../src/core/safe-text.ts';

describe('text no field may hold', () => {
  test('NUL and unpaired surrogates are refused; other text, even odd, is not', () => {
    assert.equal(textProblem('a\u0000b')?.code, 'nul_character');
    assert.equal(textProblem('a\ud800b')?.code, 'lone_surrogate');
    assert.equal(textProblem('\udc00')?.code, 'lone_surrogate');
    assert.equal(textProblem('abc\u202egpj.exe'), undefined);
    assert.equal(textProblem('emoji \u{1f600} pair'), undefined);
    assert.equal(textProblem('tab\tand\u0001control'), undefined);
  });

  test('every string is found with its path, through objects, arrays and keys', () => {
    const found = findUnsafeText({
      name: 'ok',
      tags: ['fine', 'bad\u0000'],
      owner: { note: '\ud83d' },
      'key\u0000': { inner: 'x\u0000' },
      count: 3,
    });
    assert.deepEqual(
      found.map((entry) => `${entry.path}:${entry.code}`),
      [
        'tags.1:nul_character',
        'owner.note:lone_surrogate',
        '(key):nul_character',
        '(key).inner:nul_character',
      ],
    );
  });

  test('files and other instances are not walked', () => {
    const file = new File(['a\u0000b'], 'a.csv');
    assert.deepEqual(findUnsafeText({ file, when: new Date(0) }), []);
  });
});

describe('the question a valid request asks: does it hold any?', () => {
  test('answers as the full walk does, on every shape the walk reads', () => {
    const bad = ['a\u0000b', '\ud800', 'x\udc00y'];
    const shapes = (text: string): unknown[] => {
      const keyed: Record<string, unknown> = Object.create(null);
      keyed.inner = [{ deeper: [text] }];
      return [
        text,
        [text],
        ['fine', 1, null, text],
        { name: text },
        { [text]: 'value' },
        { list: [{ nested: { deeper: [text] } }] },
        keyed,
        [[[[text]]]],
      ];
    };
    for (const text of bad) {
      for (const value of shapes(text)) {
        assert.equal(holdsUnsafeText(value), true, JSON.stringify(value));
        assert.ok(findUnsafeText(value).length > 0, JSON.stringify(value));
      }
    }
    for (const value of shapes('clean \u{1f600} text')) {
      assert.equal(holdsUnsafeText(value), false, JSON.stringify(value));
      assert.deepEqual(findUnsafeText(value), []);
    }
  });

  test('files, dates and other instances are not read, as the full walk reads none', () => {
    const file = new File(['a\u0000b'], 'a.csv');
    class Box {
      text = 'a\u0000b';
    }
    assert.equal(holdsUnsafeText({ file, when: new Date(0), box: new Box() }), false);
    assert.equal(holdsUnsafeText([new Box()]), false);
    assert.equal(holdsUnsafeText(undefined), false);
    assert.equal(holdsUnsafeText(42), false);
  });

  test('only own keys: what an object inherits is not its text', () => {
    const value: Record<string, unknown> = Object.create({ inherited: 'a\u0000b' });
    value.own = 'fine';
    assert.equal(holdsUnsafeText(value), false);
    assert.deepEqual(findUnsafeText(value), []);
  });

  test('a value nested 400,000 deep is read without overflowing the stack', () => {
    const depth = 400_000;
    const json = (text: string) => `{"a":${'['.repeat(depth)}"${text}"${']'.repeat(depth)}}`;
    assert.equal(holdsUnsafeText(JSON.parse(json('x\\u0000'))), true);
    assert.equal(holdsUnsafeText(JSON.parse(json('x'))), false);
  });
});

describe('hostile shapes', () => {
  test('a value nested 400,000 deep is walked without overflowing the stack', () => {
    const depth = 400_000;
    const value: unknown = JSON.parse(`{"a":${'['.repeat(depth)}"x\\u0000"${']'.repeat(depth)}}`);
    const found = findUnsafeText(value);
    assert.equal(found.length, 1);
    assert.equal(found[0]?.code, 'nul_character');
    assert.ok((found[0]?.path.length ?? Infinity) < 100, 'the path is cut short, not 800 kB');
    assert.match(found[0]?.path ?? '', /^a(\.0)+\.…(\.0)+$/);
  });
});

describe('hostile shapes, many problems', () => {
  test('a bad string at each of 100,000 levels: the first hundred found, each path cut short', () => {
    // Each problem's path was built by walking up to the root: quadratic, 84 s for a 1 MB body.
    const depth = 100_000;
    const value: unknown = JSON.parse(`${'["\\ud800",'.repeat(depth)}0${']'.repeat(depth)}`);
    const found = findUnsafeText(value);
    assert.equal(found.length, 100);
    assert.deepEqual(
      found.slice(0, 2).map((entry) => entry.path),
      ['0', '1.0'],
      'the first ones, in order, with their whole paths',
    );
    const deepest = found.at(-1)?.path ?? '';
    assert.match(deepest, /^(1\.){16}…(\.1){15}\.0$/);
  });

  test('a cut path keeps its first and last sixteen segments', () => {
    let value: unknown = 'x\u0000';
    for (let level = 39; level >= 0; level--) value = { [`k${level}`]: value };
    const [found] = findUnsafeText(value);
    const keys = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, index) => `k${from + index}`);
    assert.equal(found?.path, [...keys(0, 16), '…', ...keys(24, 40)].join('.'));
  });
});
