import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseEnv } from 'node:util';
import {
  DEVELOPMENT_JWT_SECRET,
  misspeltSettings,
  parseSettings,
  SETTING_NAMES,
  SettingsError,
} from '../../src/core/settings.ts';

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseSettings(env);
  } catch (error) {
    assert.ok(error instanceof SettingsError);
    return error.problems;
  }
  assert.fail('expected the settings to be refused');
}

describe('settings', () => {
  test('an empty environment gives working development defaults', () => {
    const settings = parseSettings({});
    assert.equal(settings.NODE_ENV, 'development');
    assert.equal(settings.PORT, 3000);
    assert.equal(settings.DATABASE_URL, undefined);
    assert.equal(settings.MIGRATE_ON_START, true);
    assert.equal(settings.LOG_FORMAT, 'pretty');
  });

  test('values are coerced from strings, and empty strings count as unset', () => {
    const settings = parseSettings({
      PORT: '8080',
      CORS_ORIGINS: 'https://a.example, https://b.example',
      REDIS_URL: '',
    });
    assert.equal(settings.PORT, 8080);
    assert.deepEqual(settings.CORS_ORIGINS, ['https://a.example', 'https://b.example']);
    assert.equal(settings.REDIS_URL, undefined);
  });

  test('every problem is reported at once, one line each', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      DATABASE_URL: 'mysql://db',
      LOG_LEVEL: 'loud',
      JWT_SECRET: 'short',
    });
    assert.equal(problems.length, 4);
    assert.match(problems.join('\n'), /^PORT: /m);
    assert.match(problems.join('\n'), /^DATABASE_URL: must be a postgres/m);
    assert.match(problems.join('\n'), /^LOG_LEVEL: /m);
    assert.match(problems.join('\n'), /^JWT_SECRET: must be at least 32/m);
  });

  test('production requires external services and a real secret', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    assert.deepEqual(problems.map((line) => line.split(':')[0]).sort(), [
      'DATABASE_URL',
      'JWT_SECRET',
      'REDIS_URL',
    ]);
  });

  test('production refuses the development secret and a short one', () => {
    const base = {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://db/app',
      REDIS_URL: 'redis://cache:6379',
    };
    assert.match(
      problemsOf({ ...base, JWT_SECRET: DEVELOPMENT_JWT_SECRET }).join(),
      /JWT_SECRET: must be set to a real secret/,
    );
    assert.match(
      problemsOf({ ...base, JWT_SECRET: 'x'.repeat(31) }).join(),
      /JWT_SECRET: must be at least 32/,
    );
    const settings = parseSettings({ ...base, JWT_SECRET: 'k'.repeat(40) });
    assert.equal(settings.MIGRATE_ON_START, false);
    assert.equal(settings.LOG_FORMAT, 'json');
  });

  test('a bad environment stops the server with the list, exit code 1 and no stack trace', () => {
    const result = spawnSync(process.execPath, ['src/server.ts'], {
      env: { PATH: process.env.PATH, NODE_ENV: 'production', PORT: 'nope' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /^Invalid environment:/);
    assert.match(result.stderr, /PORT: /);
    assert.match(result.stderr, /DATABASE_URL: is required in production/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  test('a variable a letter or two from a setting is named, with the setting meant', () => {
    const slips = misspeltSettings({
      RATE_LIMT_DEFAULT_REQUESTS: '5',
      DATABSE_URL: 'postgres://x',
      LOG_LEVL: 'debug',
      // Other programs' variables are not slips, nor is a setting itself.
      HOST: 'example',
      HOSTNAME: 'pod-1',
      PGPASSWORD: 'x',
      NODE_OPTIONS: '--enable-source-maps',
      POSTGRES_PASSWORD: 'x',
      LOG_LEVEL: 'info',
    });
    assert.deepEqual(slips, [
      { name: 'RATE_LIMT_DEFAULT_REQUESTS', setting: 'RATE_LIMIT_DEFAULT_REQUESTS' },
      { name: 'DATABSE_URL', setting: 'DATABASE_URL' },
    ]);
    // LOG_LEVL went unnamed above: LOG_LEVEL is set, so it is another variable, not a slip.
    assert.deepEqual(misspeltSettings({ LOG_LEVL: 'debug' }), [
      { name: 'LOG_LEVL', setting: 'LOG_LEVEL' },
    ]);
  });

  test('the server warns of a misspelt setting on standard error, even as it stops for another', () => {
    const result = spawnSync(process.execPath, ['src/server.ts'], {
      env: { PATH: process.env.PATH, PORT: 'nope', RATE_LIMT_DEFAULT_REQUESTS: '5' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.match(
      result.stderr,
      /^Warning: RATE_LIMT_DEFAULT_REQUESTS is no setting of this service: did you mean RATE_LIMIT_DEFAULT_REQUESTS\?/,
    );
  });
});

/**
 * `.env.example` is what a newcomer copies to `.env`: each line it sets, and each it shows
 * commented out, must name a setting that exists and hold a value the settings accept.
 */
describe('.env.example', () => {
  const text = readFileSync('.env.example', 'utf8');
  const active = parseEnv(text);
  /** The `# NAME=value` lines: settings shown, to be uncommented. */
  const shown = Object.fromEntries(
    [...text.matchAll(/^#\s*([A-Z][A-Z0-9_]*)=(.*)$/gm)].map(([, name, value]) => [
      name ?? '',
      value ?? '',
    ]),
  );

  test('names only settings that exist', () => {
    const names = [...Object.keys(active), ...Object.keys(shown)];
    assert.ok(names.includes('RATE_LIMIT_DEFAULT_REQUESTS') && names.includes('AI_MODELS'));
    const known = new Set<string>(SETTING_NAMES);
    const unknown = names.filter((name) => !known.has(name));
    assert.deepEqual(unknown, []);
  });

  test('as copied, gives a working development setup with the values it states', () => {
    const settings = parseSettings(active);
    assert.equal(settings.NODE_ENV, 'development');
    assert.equal(settings.RATE_LIMIT_DEFAULT_REQUESTS, Number(active.RATE_LIMIT_DEFAULT_REQUESTS));
    assert.equal(
      settings.RATE_LIMIT_DEFAULT_WINDOW_SECONDS,
      Number(active.RATE_LIMIT_DEFAULT_WINDOW_SECONDS),
    );
  });

  test('with every commented line uncommented, is accepted too', () => {
    const settings = parseSettings({ ...active, ...shown });
    assert.equal(settings.DATABASE_POOLER, 'transaction');
    assert.deepEqual(
      settings.AI_MODELS?.map((model) => model.id),
      ['gpt-4o-mini'],
    );
  });

  test('the embeddings model it shows is one AI_MODELS accepts', () => {
    const example = /^#\s+(\{"id":"text-embedding[^\n]*\})$/m.exec(text)?.[1];
    assert.ok(example, 'the embeddings example line');
    const settings = parseSettings({ ...active, ...shown, AI_MODELS: `[${example}]` });
    assert.equal(settings.AI_MODELS?.[0]?.kind, 'embeddings');
  });
});
