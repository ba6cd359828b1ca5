/**
 * Loaded before every process's entry point (`node --import ./src/preload.ts ...`). It makes
 * start-up faster and lighter, and a long-running process as fast as a fresh one (the last
 * paragraph); everything works without it.
 *
 * Compiled code is cached on disk (Node's compile cache, in the system's temporary folder),
 * so second and later starts skip parsing.
 *
 * Node 24 re-reads a package's `exports` map for every ES module file it loads from that
 * package. drizzle-orm's map is 130 kB with ~450 entries and the ORM has hundreds of files,
 * so importing it as ES modules costs about a second and ~200 MB. Its CommonJS build is the
 * same code, and loading it skips that lookup: ~0.25 s and ~25 MB. So drizzle-orm, and only
 * it, is resolved to its CommonJS build, for every importer (drizzle-zod included), which
 * keeps a single copy of the ORM in the process. See docs/decisions/005.
 *
 * And it loads our replacements of dependencies' files (`MODULE_REPLACEMENTS`, each the fix
 * of a package's defect) where the package imports its own; the build does the same for the
 * bundle.
 */
import { enableCompileCache, registerHooks } from 'node:module';
import { MODULE_REPLACEMENTS } from './module-replacements.ts';

// Keeps compiled code (TypeScript with its types stripped included) on disk between runs.
enableCompileCache();

const COMMONJS_CONDITIONS = ['node', 'require', 'default'];
const REPLACEMENTS = new Map(
  MODULE_REPLACEMENTS.map((entry) => [entry.original, entry.replacement]),
);

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'drizzle-orm' || specifier.startsWith('drizzle-orm/')) {
      return nextResolve(specifier, { ...context, conditions: COMMONJS_CONDITIONS });
    }
    const resolved = nextResolve(specifier, context);
    const replacement = REPLACEMENTS.get(resolved.url);
    // The format follows from the replacement's own name (TypeScript).
    return replacement ? { url: replacement, shortCircuit: true } : resolved;
  },
});
