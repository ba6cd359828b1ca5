/**
 * Files of dependencies that our processes load one of ours in place of, each for a defect
 * of the package that its maintainers have not fixed yet: as URLs, the original's (where the
 * package's own import of it resolves) and ours. Applied by the resolve hook of
 * `src/preload.ts` (the sources: development, tests, scripts) and by the build
 * (`scripts/build.ts`, the bundle), so the two run the same code. Each goes once its
 * package is fixed; `test/module-replacements.test.ts` fails when the original changes.
 */
export interface ModuleReplacement {
  original: string;
  /** The original's SHA-256 (hex) when ours was written: a changed file is to be read again. */
  originalSha256: string;
  replacement: string;
}

export const MODULE_REPLACEMENTS: readonly ModuleReplacement[] = [
  {
    // postgres.js's queue takes time linear in the queries a process has run (decision 086).
    original: new URL('./queue.js', import.meta.resolve('postgres')).href,
    originalSha256: '15e6345adb6708bf3b99ad39fc2231c2fb61de5f6cba4b7a7a6be881482a4ec3',
    replacement: new URL('./core/db/postgres-queue.ts', import.meta.url).href,
  },
  {
    // postgres.js's result of every query: V8 never optimises its constructor (decision 128).
    original: new URL('./result.js', import.meta.resolve('postgres')).href,
    originalSha256: '001ff5e0c8d634674f483d07fbcd620a797e3101f842d6c20ca3ace936260465',
    replacement: new URL('./core/db/postgres-result.ts', import.meta.url).href,
  },
];
