/**
 * Fills Node's compile cache (the folder NODE_COMPILE_CACHE names) with every module the
 * service's processes load: the API, the worker and the migration, TypeScript stripped and
 * compiled. A process that then finds all of its modules there never loads Node's TypeScript
 * stripper (amaro: its 3.8 MB of source and a WebAssembly heap, some 29 MB of RSS kept for
 * the life of the process) and starts sooner. The image runs this at build time, as the user
 * and with the V8 flags it runs as, since both are part of the cache's key (decision 042).
 *
 * Each entry point is imported with its `runMain` and `onShutdownSignal` replaced by no-ops,
 * so its whole graph of static imports loads and nothing starts.
 *
 * Usage: NODE_COMPILE_CACHE=<folder> node --import ./src/preload.ts scripts/warm-compile-cache.ts
 */
import { flushCompileCache, getCompileCacheDir, registerHooks } from 'node:module';

const ENTRIES = ['src/server.ts', 'src/worker.ts', 'scripts/migrate.ts'];
const entryUrls = new Set(ENTRIES.map((entry) => new URL(`../${entry}`, import.meta.url).href));
const MAIN = new URL('../src/core/main.ts', import.meta.url).href;
const INERT_MAIN = `data:text/javascript,${encodeURIComponent(
  'export function runMain() {}\nexport function onShutdownSignal() {}',
)}`;

// The variable, not just an enabled cache: the preload enables one by itself, but too late to
// spare the preload's own stripping, so only processes started with the variable gain.
const folder = process.env.NODE_COMPILE_CACHE ? getCompileCacheDir() : undefined;
if (!folder) {
  process.stderr.write(
    'NODE_COMPILE_CACHE: set it to the folder to fill, the one the processes run with\n',
  );
  process.exit(1);
}

registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    const fromEntry = context.parentURL !== undefined && entryUrls.has(context.parentURL);
    return fromEntry && resolved.url === MAIN ? { url: INERT_MAIN, shortCircuit: true } : resolved;
  },
});

// The entry points only see the inert stand-in; the real one is compiled here.
await import(MAIN);
for (const url of entryUrls) await import(url);
flushCompileCache();
process.stdout.write(`Compile cache filled: ${folder}\n`);
// Modules hold open handles (pools, timers) only once their processes start; none started,
// but exit rather than wait on anything a module might have armed.
process.exit(0);
