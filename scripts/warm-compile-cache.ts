/**
 * Fills Node's compile cache (the folder NODE_COMPILE_CACHE names) with the production bundle
 * (`dist/`, from `npm run build`), compiled, so the processes skip compiling it: about 80 ms
 * of the API's start (decision 056). The image runs this at build time, as the user and with
 * the V8 flags it runs as, since both are part of the cache's key (decision 042).
 *
 * Each entry point is imported, not run: it starts its process only as the main module
 * (`import.meta.main`), so importing it loads and compiles all its code and starts nothing.
 *
 * Usage: NODE_COMPILE_CACHE=<folder> node scripts/warm-compile-cache.ts
 */
import { existsSync } from 'node:fs';
import { flushCompileCache, getCompileCacheDir } from 'node:module';

/** The bundle's entry points: `ENTRY_POINTS` of scripts/build.ts (a test holds them equal). */
export const BUNDLE_ENTRIES = ['server.js', 'worker.js', 'migrate.js'];

const DIST = new URL('../dist/', import.meta.url);

if (import.meta.main) {
  const folder = process.env.NODE_COMPILE_CACHE ? getCompileCacheDir() : undefined;
  if (!folder) {
    process.stderr.write(
      'NODE_COMPILE_CACHE: set it to the folder to fill, the one the processes run with\n',
    );
    process.exit(1);
  }
  const missing = BUNDLE_ENTRIES.filter((entry) => !existsSync(new URL(entry, DIST)));
  if (missing.length > 0) {
    process.stderr.write(`dist/ lacks ${missing.join(', ')}: run npm run build first\n`);
    process.exit(1);
  }
  for (const entry of BUNDLE_ENTRIES) await import(new URL(entry, DIST).href);
  flushCompileCache();
  process.stdout.write(`Compile cache filled: ${folder}\n`);
  // Modules hold open handles (pools, timers) only once their processes start; none started,
  // but exit rather than wait on anything a module might have armed.
  process.exit(0);
}
