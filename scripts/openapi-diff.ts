/**
 * `npm run openapi:diff [-- --base <git ref>] [--current <file>]`: the breaking-change check.
 * Compares the OpenAPI document from the code (or `--current`) with `openapi.json` as
 * committed at the base: `--base`, else the last release tag (`v*`) reachable from HEAD,
 * else the commit that added the newest release's section to CHANGELOG.md (a clone without
 * tags), else where HEAD left `origin/main`; with none of these it says so and passes. Prints every
 * change, breaking or not, and fails on a breaking one unless the major version moved or
 * CHANGELOG.md names the operation under "Deprecated" or "Removed" in a section newer than
 * the base's version (the deprecation policy in the README).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { runMain } from '../src/core/main.ts';
import { OPENAPI_FILE, renderOpenApi } from './openapi.ts';
import { type Change, compareDocuments } from './openapi-changes.ts';

export const CHANGELOG_FILE = 'CHANGELOG.md';

/**
 * The bullets of CHANGELOG.md (Keep a Changelog) under `### Deprecated` or `### Removed`, in
 * every version section above the one of `baseVersion` (newest first, `[Unreleased]` on top).
 */
export function announcedChanges(changelog: string, baseVersion: string): string[] {
  const bullets: string[] = [];
  let announcing = false;
  for (const line of changelog.split('\n')) {
    const version = /^##\s+\[([^\]]+)\]/.exec(line);
    if (version) {
      if (version[1] === baseVersion) break;
      announcing = false;
      continue;
    }
    const heading = /^###\s+(.+?)\s*$/.exec(line);
    if (heading) {
      announcing = /^(deprecated|removed)$/i.test(heading[1] ?? '');
      continue;
    }
    if (announcing && /^\s*[-*]\s+/.test(line)) bullets.push(line.trim());
    else if (announcing && /^\s+\S/.test(line) && bullets.length > 0) {
      bullets[bullets.length - 1] += ` ${line.trim()}`;
    }
  }
  return bullets;
}

/** Whether a bullet names the operation: `GET /v1/things/{id}` or its operationId, in code. */
export function isAnnounced(change: Change, bullets: string[]): boolean {
  const names = [`\`${change.operation}\``];
  if (change.operationId) names.push(`\`${change.operationId}\``);
  return bullets.some((bullet) => names.some((name) => bullet.includes(name)));
}

export const majorOf = (version: string) => Number.parseInt(version.split('.')[0] ?? '', 10);

export interface Verdict {
  /** Breaking changes neither the major version nor the changelog allows. */
  refused: Change[];
  /** Breaking changes the changelog announces. */
  announced: Change[];
  majorMoved: boolean;
}

/** The policy: which breaking changes pass. */
export function judge(
  changes: Change[],
  versions: { base: string; current: string },
  changelog: string,
): Verdict {
  const breaking = changes.filter((change) => change.breaking);
  const majorMoved = majorOf(versions.current) > majorOf(versions.base);
  if (majorMoved) return { refused: [], announced: [], majorMoved };
  const bullets = announcedChanges(changelog, versions.base);
  return {
    refused: breaking.filter((change) => !isAnnounced(change, bullets)),
    announced: breaking.filter((change) => isAnnounced(change, bullets)),
    majorMoved,
  };
}

export function formatChange(change: Change): string {
  return `${change.breaking ? 'BREAKING' : 'ok      '}  ${change.operation}  ${change.where}: ${change.what}`;
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

/** The heading of the newest released version in CHANGELOG.md (`## [0.1.0]`), if any. */
function lastReleaseHeading(): string | undefined {
  const changelog = existsSync(CHANGELOG_FILE) ? readFileSync(CHANGELOG_FILE, 'utf8') : '';
  return /^## \[\d+\.\d+\.\d+[^\]]*\]/m.exec(changelog)?.[0];
}

/** Whether `commit` is where a shallow clone's history is cut (its parents were not fetched). */
function isShallowBoundary(commit: string): boolean {
  if (git(['rev-parse', '--is-shallow-repository']) !== 'true') return false;
  const shallowFile = git(['rev-parse', '--git-path', 'shallow']);
  if (!shallowFile || !existsSync(shallowFile)) return false;
  return readFileSync(shallowFile, 'utf8').split('\n').includes(commit);
}

/** The base to compare with, and how it was chosen; undefined (with why) when there is none. */
function findBase(given: string | undefined): { ref?: string; why: string } {
  if (given) return { ref: given, why: 'given with --base' };
  const tag = git(['describe', '--tags', '--abbrev=0', '--match', 'v[0-9]*', 'HEAD']);
  if (tag) return { ref: tag, why: 'the last release tag' };
  // A clone may carry no tags (CI's often does not): the release is then the commit that
  // wrote its section into the changelog.
  const heading = lastReleaseHeading();
  const release = heading
    ? git(['log', '--reverse', '--format=%H', '-S', heading, '--', CHANGELOG_FILE])?.split('\n')[0]
    : undefined;
  if (heading && release && isShallowBoundary(release)) {
    // A shallow clone's oldest commit "adds" every line it holds: it may be HEAD itself.
    return {
      why: `this clone is shallow, so the commit that added "${heading}" to ${CHANGELOG_FILE} is not in it: fetch the whole history (git fetch --unshallow; actions/checkout: fetch-depth: 0) or tag the release`,
    };
  }
  if (heading && release) {
    return { ref: release, why: `the commit that added "${heading}" to ${CHANGELOG_FILE}` };
  }
  const head = git(['rev-parse', 'HEAD']);
  const forkPoint = git(['merge-base', 'HEAD', 'origin/main']);
  if (forkPoint && forkPoint !== head)
    return { ref: forkPoint, why: 'where HEAD left origin/main' };
  return {
    why: 'no release tag (v*) is reachable from HEAD, and HEAD has not left origin/main (or there is none): nothing to compare with; tag a release (git tag v<version>) to start',
  };
}

type Json = Record<string, unknown>;

const versionOf = (document: Json): string => {
  const info = document.info;
  const version = typeof info === 'object' && info !== null ? Reflect.get(info, 'version') : '';
  return typeof version === 'string' ? version : '';
};

if (import.meta.main) {
  runMain(async () => {
    const { values } = parseArgs({
      options: { base: { type: 'string' }, current: { type: 'string' } },
    });
    const base = findBase(values.base);
    if (!base.ref) {
      console.log(`openapi:diff: skipped: ${base.why}.`);
      return;
    }
    const committed = git(['show', `${base.ref}:${OPENAPI_FILE}`]);
    if (committed === undefined) {
      console.log(`openapi:diff: skipped: ${base.ref} (${base.why}) has no ${OPENAPI_FILE}.`);
      return;
    }
    const before = JSON.parse(committed) as Json;
    const after = JSON.parse(
      values.current ? await readFile(values.current, 'utf8') : await renderOpenApi(),
    ) as Json;
    const versions = { base: versionOf(before), current: versionOf(after) };
    const changes = compareDocuments(before, after);
    console.log(
      `openapi:diff: ${values.current ?? 'the code'} (${versions.current}) against ${OPENAPI_FILE} at ${base.ref}, ${base.why} (${versions.base}):`,
    );
    for (const change of [...changes].sort((a, b) => Number(b.breaking) - Number(a.breaking))) {
      console.log(`  ${formatChange(change)}`);
    }
    const changelog = await readFile(CHANGELOG_FILE, 'utf8').catch(() => '');
    const verdict = judge(changes, versions, changelog);
    const breaking = changes.filter((change) => change.breaking).length;
    console.log(`${changes.length} changes, ${breaking} breaking.`);
    if (verdict.majorMoved && breaking > 0) {
      console.log(`The major version moved (${versions.base} → ${versions.current}): allowed.`);
    }
    for (const change of verdict.announced) {
      console.log(
        `Announced in ${CHANGELOG_FILE}: ${change.operation} ${change.where}: ${change.what}`,
      );
    }
    if (verdict.refused.length > 0) {
      console.error(
        [
          `${verdict.refused.length} breaking changes are neither announced nor in a new major version:`,
          ...verdict.refused.map((change) => `  ${formatChange(change)}`),
          `Keep the operation compatible (add, do not change), or deprecate it first and name it (\`METHOD /path\` or \`operationId\`) under "### Deprecated" or "### Removed" in ${CHANGELOG_FILE}'s [Unreleased] section, or move the major version.`,
        ].join('\n'),
      );
      process.exitCode = 1;
    }
  });
}
