import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runWithV8Natives } from '../support/module-script.ts';

test('loading ioredis leaves String.prototype in dictionary mode, and redis.ts makes it fast', () => {
  // ioredis alone first: the cause this module works around (its String subclass).
  const script = `
    const fast = () => %HasFastProperties(String.prototype);
    const before = fast();
    await import('ioredis');
    const afterIoredis = fast();
    await import('./src/core/redis.ts');
    const afterRedisModule = fast();
    class Another extends String {}
    console.log(JSON.stringify({ before, afterIoredis, afterRedisModule, afterAnother: fast() }));`;
  assert.deepEqual(runWithV8Natives(script), {
    before: true,
    afterIoredis: false,
    afterRedisModule: true,
    afterAnother: true,
  });
});

test('keepStringPrototypeFast makes the prototype fast after any subclass, and may run again', () => {
  const script = `
    import { keepStringPrototypeFast } from './src/core/string-prototype.ts';
    const fast = () => %HasFastProperties(String.prototype);
    class Verbatim extends String {}
    const subclassed = fast();
    keepStringPrototypeFast();
    const kept = fast();
    keepStringPrototypeFast();
    console.log(JSON.stringify({ subclassed, kept, again: fast(), strings: 'abc'.slice(1) }));`;
  assert.deepEqual(runWithV8Natives(script), {
    subclassed: false,
    kept: true,
    again: true,
    strings: 'bc',
  });
});
