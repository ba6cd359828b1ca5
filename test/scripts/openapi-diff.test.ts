/**
 * `npm run openapi:diff`'s policy: breaking changes fail unless the major version moves or
 * CHANGELOG.md names the operation under Deprecated or Removed in a section newer than the
 * base. Unit tests of the policy, then the command in a scratch git repository with a tagged
 * release, the way CI runs it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Change } from '../../scripts/openapi-changes.ts';
import { announcedChanges, isAnnounced, judge } from '../../scripts/openapi-diff.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

const CHANGELOG = `# Changelog

## [Unreleased]

### Added

- \`GET /v1/widgets\`

### Deprecated

- \`DELETE /v1/items/{id}\` (Sunset 2027-06-01): use \`archiveItem\`.
- \`getItemStats\`, replaced by
  \`GET /v1/stats\`.

## [0.2.0] - 2026-12-01

### Removed

- \`GET /v1/legacy\`

## [0.1.0] - 2026-11-30

### Removed

- \`GET /v1/older\`
`;

const removal = (operation: string, operationId = ''): Change => ({
  breaking: true,
  operation,
  operationId,
  where: 'operation',
  what: 'removed',
});

describe('the policy', () => {
  test('reads Deprecated and Removed entries newer than the base version', () => {
    assert.deepEqual(announcedChanges(CHANGELOG, '0.1.0'), [
      '- `DELETE /v1/items/{id}` (Sunset 2027-06-01): use `archiveItem`.',
      '- `getItemStats`, replaced by `GET /v1/stats`.',
      '- `GET /v1/legacy`',
    ]);
    assert.deepEqual(announcedChanges(CHANGELOG, '0.2.0').length, 2);
  });

  test('matches an operation by `METHOD /path` or by `operationId`', () => {
    const bullets = announcedChanges(CHANGELOG, '0.1.0');
    assert.ok(isAnnounced(removal('DELETE /v1/items/{id}'), bullets));
    assert.ok(isAnnounced(removal('GET /v1/item-stats', 'getItemStats'), bullets));
    assert.ok(!isAnnounced(removal('GET /v1/items/{id}', 'getItem'), bullets));
    assert.ok(!isAnnounced(removal('GET /v1/older'), bullets), 'released before the base');
  });

  test('refuses unannounced breaking changes, unless the major version moved', () => {
    const changes = [removal('GET /v1/items/{id}', 'getItem'), removal('DELETE /v1/items/{id}')];
    const minor = judge(changes, { base: '0.1.0', current: '0.2.0' }, CHANGELOG);
    assert.deepEqual(
      minor.refused.map((change) => change.operation),
      ['GET /v1/items/{id}'],
    );
    assert.deepEqual(
      minor.announced.map((change) => change.operation),
      ['DELETE /v1/items/{id}'],
    );
    const major = judge(changes, { base: '1.4.0', current: '2.0.0' }, '');
    assert.deepEqual(major.refused, []);
    assert.equal(major.majorMoved, true);
  });
});

describe('npm run openapi:diff in a repository with a release tag', () => {
  const repo = mkdtempSync(join(tmpdir(), 'openapi-diff-'));
  after(() => rmSync(repo, { recursive: true, force: true }));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
      cwd: repo,
      stdio: 'ignore',
    });
  const base = readFileSync(join(ROOT, 'openapi.json'), 'utf8');
  git('init', '-q');
  writeFileSync(join(repo, 'openapi.json'), base);
  git('add', 'openapi.json');
  git('commit', '-q', '-m', 'release');
  git('tag', 'v0.1.0');

  /** The command against a planted document, with a changelog. */
  function diff(
    plant: (document: Record<string, Record<string, Record<string, unknown>>>) => void,
    changelog = '',
  ) {
    const document = JSON.parse(base) as Record<string, Record<string, Record<string, unknown>>>;
    plant(document);
    writeFileSync(join(repo, 'current.json'), JSON.stringify(document));
    writeFileSync(join(repo, 'CHANGELOG.md'), changelog);
    return spawnSync(
      process.execPath,
      [join(ROOT, 'scripts/openapi-diff.ts'), '--current', 'current.json'],
      { cwd: repo, encoding: 'utf8' },
    );
  }

  test('passes on an added optional field, naming the tag it compared with', () => {
    const result = diff((document) => {
      const schema = document.components?.schemas?.ItemCreate as { properties: object };
      Object.assign(schema.properties, { colour: { type: 'string' } });
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /at v0\.1\.0, the last release tag/);
    assert.match(
      result.stdout,
      /ok +POST \/v1\/items {2}request body .* colour: field added, optional/,
    );
  });

  test('fails on a planted removal, and passes once the changelog deprecates it', () => {
    const plant = (document: Record<string, Record<string, Record<string, unknown>>>) => {
      delete document.paths?.['/v1/items/{id}']?.delete;
    };
    const refused = diff(plant);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /BREAKING {2}DELETE \/v1\/items\/\{id\} {2}operation: removed/);
    const announced = diff(
      plant,
      '## [Unreleased]\n\n### Removed\n\n- `deleteItem`, deprecated in 0.1.0\n\n## [0.1.0]\n',
    );
    assert.equal(announced.status, 0, announced.stderr);
    assert.match(announced.stdout, /Announced in CHANGELOG\.md: DELETE \/v1\/items\/\{id\}/);
  });

  test('fails on a planted new required field', () => {
    const result = diff((document) => {
      const schema = document.components?.schemas?.ItemCreate as {
        properties: object;
        required: string[];
      };
      Object.assign(schema.properties, { colour: { type: 'string' } });
      schema.required.push('colour');
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /BREAKING {2}POST \/v1\/items {2}request body .*colour/);
  });

  test('fails on a planted narrowed enum', () => {
    const result = diff((document) => {
      const schema = document.components?.schemas?.ItemCreate as {
        properties: { status: { enum: string[] } };
      };
      schema.properties.status.enum = ['draft', 'active'];
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /BREAKING {2}POST \/v1\/items {2}request body .*status.*archived/);
  });

  test('passes a breaking change when the major version moves', () => {
    const result = diff((document) => {
      delete document.paths?.['/v1/items/{id}']?.delete;
      Object.assign(document.info ?? {}, { version: '1.0.0' });
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /The major version moved \(0\.1\.0 → 1\.0\.0\): allowed/);
  });

  const gitIn = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
      cwd,
      stdio: 'ignore',
    });

  /** A repository whose release 0.1.0 is in its changelog only, then a commit removing an operation. */
  function releaseThenRemoval(dir: string): void {
    gitIn(dir, 'init', '-q');
    writeFileSync(join(dir, 'openapi.json'), base);
    writeFileSync(join(dir, 'CHANGELOG.md'), '## [Unreleased]\n\n## [0.1.0]\n');
    gitIn(dir, 'add', '.');
    gitIn(dir, 'commit', '-q', '-m', 'release 0.1.0');
    // Later work: the document the release had is no longer the committed one.
    const later = JSON.parse(base) as Record<string, Record<string, Record<string, unknown>>>;
    delete later.paths?.['/v1/items/{id}']?.delete;
    writeFileSync(join(dir, 'openapi.json'), JSON.stringify(later));
    gitIn(dir, 'commit', '-q', '-am', 'later');
  }

  test('in a clone without tags, compares with the commit that added the release to the changelog', () => {
    const clone = mkdtempSync(join(tmpdir(), 'openapi-diff-untagged-'));
    try {
      releaseThenRemoval(clone);
      const result = spawnSync(
        process.execPath,
        [join(ROOT, 'scripts/openapi-diff.ts'), '--current', 'openapi.json'],
        { cwd: clone, encoding: 'utf8' },
      );
      assert.equal(result.status, 1, result.stdout);
      assert.match(result.stdout, /the commit that added "## \[0\.1\.0\]" to CHANGELOG\.md/);
      assert.match(result.stderr, /BREAKING {2}DELETE \/v1\/items\/\{id\} {2}operation: removed/);
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  });

  test('in a shallow clone that lacks the release commit, skips saying so, never compares with HEAD', () => {
    const origin = mkdtempSync(join(tmpdir(), 'openapi-diff-origin-'));
    const shallow = mkdtempSync(join(tmpdir(), 'openapi-diff-shallow-'));
    try {
      releaseThenRemoval(origin);
      // As actions/checkout clones by default: one commit, no tags.
      gitIn(shallow, 'clone', '-q', '--depth', '1', '--no-tags', `file://${origin}`, '.');
      const result = spawnSync(
        process.execPath,
        [join(ROOT, 'scripts/openapi-diff.ts'), '--current', 'openapi.json'],
        { cwd: shallow, encoding: 'utf8' },
      );
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /skipped: this clone is shallow/);
      assert.doesNotMatch(result.stdout, /0 changes/);
    } finally {
      rmSync(origin, { recursive: true, force: true });
      rmSync(shallow, { recursive: true, force: true });
    }
  });

  test('skips, saying why, where there is no base', () => {
    const bare = mkdtempSync(join(tmpdir(), 'openapi-diff-bare-'));
    try {
      execFileSync('git', ['init', '-q'], { cwd: bare });
      const result = spawnSync(
        process.execPath,
        [join(ROOT, 'scripts/openapi-diff.ts'), '--current', join(ROOT, 'openapi.json')],
        { cwd: bare, encoding: 'utf8' },
      );
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /skipped: no release tag/);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});
