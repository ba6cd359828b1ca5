/**
 * `npm run build`: the production bundle in `dist/`, which `npm start`, `npm run worker` and
 * the image run: `dist/server.js` (the API), `dist/worker.js` and `dist/migrate.js`. One
 * file instead of some 770 modules to find, read and link takes about a third off the time
 * to ready (decision 056); development and the tests run the TypeScript sources as they are.
 *
 * Two rules keep the bundle working where the sources work:
 * - Our files' own location (`import.meta.url`, `import.meta.dirname`) is their place in
 *   the sources, not the bundle's, so the files they read beside them (migrations, the chat
 *   page, the docs bundle) are found as in development. The bundle lives in `dist/` beside
 *   `src/`, `migrations/` and `assets/`, which the image copies too.
 * - A package that finds its own files at run time (a WebAssembly module, a worker script,
 *   static pages) cannot work from inside the bundle: it stays in `node_modules` (EXTERNAL).
 *   Every other package is read for the ways code finds itself, and the build fails naming
 *   any package that does so and is neither external nor reviewed (SELF_LOCATING_REVIEWED),
 *   so a new dependency cannot break in production only.
 *
 * Usage: npm run build [-- --outdir <folder>]
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type OutputFile, type Plugin } from 'esbuild';
import { MODULE_REPLACEMENTS } from '../src/module-replacements.ts';

const ROOT = resolve(import.meta.dirname, '..');

export const ENTRY_POINTS = {
  server: 'src/server.ts',
  worker: 'src/worker.ts',
  migrate: 'scripts/migrate.ts',
};

/**
 * Packages loaded from `node_modules` at run time, each because it reads its own files:
 * PGlite its WebAssembly and data files, bull-board its pages, pino its transports'
 * worker scripts (thread-stream), the OpenTelemetry SDK its platform modules. All are also
 * loaded lazily or only in development, so leaving them out costs no start-up. msgpackr's
 * native decoder (optional, BullMQ does without it) is a compiled addon.
 */
export const EXTERNAL = [
  '@electric-sql/pglite',
  '@electric-sql/pglite-pgvector',
  '@bull-board/*',
  'msgpackr-extract',
  'pino',
  'pino-pretty',
  'thread-stream',
  '@opentelemetry/sdk-trace',
  '@opentelemetry/exporter-trace-otlp-http',
  '@opentelemetry/resources',
  '@opentelemetry/core',
  '@opentelemetry/context-async-hooks',
];

/**
 * Bundled packages whose code mentions its own location, each read and found harmless: the
 * mention is not on a path the bundle takes, or it locates nothing but itself.
 */
export const SELF_LOCATING_REVIEWED: Record<string, string> = {
  ioredis: '`__dirname` trims its own frames from stack traces, with `showFriendlyErrorStack` only',
  bullmq:
    '`__filename` finds the runner of a sandboxed processor (a processor given as a file); `defineJob` takes functions',
  msgpackr: '`__filename` locates its optional native decoder, and it does without when not found',
  undici:
    "`__filename` only tells whether a `fetch` error's stack names undici already; its HTTP parser is WebAssembly inlined in its JavaScript, not a file",
};

/** Code finding files relative to itself. */
const SELF_LOCATION =
  /\b__dirname\b|\b__filename\b|\bimport\.meta\.(url|dirname|filename|resolve)\b|\brequire\.resolve\b/;

const packageOf = (path: string): string | undefined =>
  /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(path)?.[1];

/** Bundles our replacements of dependencies' files in their place, as `src/preload.ts` loads them. */
function moduleReplacements(): Plugin {
  const replacements = new Map(
    MODULE_REPLACEMENTS.map((entry) => [
      fileURLToPath(entry.original),
      fileURLToPath(entry.replacement),
    ]),
  );
  return {
    name: 'module-replacements',
    setup(buildApi) {
      // Relative imports only: a package imports its own files so.
      buildApi.onResolve({ filter: /^\.\.?\// }, ({ path, resolveDir }) => {
        const replacement = replacements.get(resolve(resolveDir, path));
        return replacement ? { path: replacement } : undefined;
      });
    },
  };
}

/**
 * Rewrites our own files' `import.meta.url`, `.filename` and `.dirname` to their source
 * location, computed from the bundle file's own URL (every output is at the top of the out
 * folder), so the bundle may be moved with the tree beside it; and collects the bundled
 * packages that locate themselves.
 */
function sourceLocations(outdir: string, selfLocating: Map<string, string>): Plugin {
  return {
    name: 'source-locations',
    setup(buildApi) {
      buildApi.onLoad({ filter: /\.[cm]?[jt]s$/ }, async ({ path }) => {
        const contents = await readFile(path, 'utf8');
        const loader = /\.[cm]?ts$/.test(path) ? 'ts' : 'js';
        const pkg = packageOf(path);
        if (pkg) {
          const found = SELF_LOCATION.exec(contents);
          if (found && !(pkg in SELF_LOCATING_REVIEWED) && !selfLocating.has(pkg)) {
            selfLocating.set(pkg, `${relative(ROOT, path)}: ${found[0]}`);
          }
          return { contents, loader };
        }
        // `__bundlePath` is the banner's `fileURLToPath`; URLs take `/` on Windows too.
        const from = (to: string) => JSON.stringify(relative(outdir, to).split(sep).join('/'));
        const url = `new URL(${from(path)}, import.meta.url)`;
        const folder = `new URL(${from(dirname(path))} + '/', import.meta.url)`;
        return {
          contents: contents
            .replaceAll('import.meta.url', `${url}.href`)
            .replaceAll('import.meta.filename', `__bundlePath(${url})`)
            .replaceAll('import.meta.dirname', `__bundlePath(${folder}).replace(/[\\/]$/, '')`),
          loader,
        };
      });
    },
  };
}

export interface BuildOptions {
  /** `dist/` unless given. */
  outdir?: string;
  /** Output name → source file; the three processes unless given. */
  entryPoints?: Record<string, string>;
}

/** Builds the bundle; throws on any build error, or naming the packages that locate themselves. */
export async function buildBundle(options: BuildOptions = {}): Promise<void> {
  const outdir = options.outdir ?? resolve(ROOT, 'dist');
  const selfLocating = new Map<string, string>();
  const { outputFiles } = await build({
    absWorkingDir: ROOT,
    entryPoints: options.entryPoints ?? ENTRY_POINTS,
    outdir,
    bundle: true,
    // Not `splitting`: a chunk loaded by a lazy `import()` of a CommonJS package exports only
    // `default` (BullMQ's `Worker` came out undefined); one file keeps Node's interop.
    // Not `keepNames`, which sets `name` on every function as it is created, the closures
    // made per request included: `GET /livez` lost 16% of its throughput. Functions keep
    // their names anyway; only the few that share one get a number (`run2`).
    format: 'esm',
    platform: 'node',
    // Every non-ASCII character of the code escaped: esbuild's default, stated because
    // `asciiOnly` below relies on it.
    charset: 'ascii',
    target: 'node24',
    external: EXTERNAL,
    // Maps for `node --enable-source-maps` when reading a stack trace; off by default, as
    // turning them on costs about 240 ms of start-up and 40 MB (decision 056).
    sourcemap: 'linked',
    sourcesContent: false,
    // Bundled CommonJS packages call `require` for Node's own modules, and the reviewed ones
    // name their file or folder, which must not throw.
    banner: {
      js: [
        "import { createRequire as __bundleRequire } from 'node:module';",
        "import { fileURLToPath as __bundlePath } from 'node:url';",
        'const require = __bundleRequire(import.meta.url);',
        'const __filename = __bundlePath(import.meta.url);',
        "const __dirname = __bundlePath(new URL('.', import.meta.url));",
      ].join('\n'),
    },
    plugins: [moduleReplacements(), sourceLocations(outdir, selfLocating)],
    logLevel: 'warning',
    write: false,
  });
  if (selfLocating.size > 0) {
    const list = [...selfLocating].map(([pkg, where]) => `  ${pkg} (${where})`).join('\n');
    throw new Error(
      `These packages find their own files at run time, which they cannot do from the bundle:\n${list}\nAdd each to EXTERNAL in scripts/build.ts, or, once read and found harmless, to SELF_LOCATING_REVIEWED.`,
    );
  }
  await writeOutputs(outdir, outputFiles);
}

/**
 * The bundle as pure ASCII. esbuild escapes non-ASCII characters in code (`charset`), not in
 * the comments it keeps (`…`, `→` in JSDoc): one is enough for V8 to hold the whole 5.5 MB
 * source as a two-byte string, 5.5 MB more of every process's memory, and for Node to decode
 * it as UTF-8 at every start (decision 067). Each is replaced by `?`, one per UTF-16 unit,
 * so every column the source map names stays where it was.
 */
export function asciiOnly(text: string): string {
  return text.replace(/\P{ASCII}/gu, (character) => '?'.repeat(character.length));
}

/**
 * Each file written aside and renamed into place, so `npm start` and `npm run worker` started
 * together (each builds first) never read a file another build is half-way through writing:
 * both write the same bytes. Files of earlier builds are removed afterwards.
 */
async function writeOutputs(outdir: string, files: readonly OutputFile[]): Promise<void> {
  await mkdir(outdir, { recursive: true });
  const suffix = `.${process.pid}.tmp`;
  await Promise.all(
    files.map(async (file) => {
      const contents = file.path.endsWith('.js') ? asciiOnly(file.text) : file.contents;
      await writeFile(file.path + suffix, contents);
      await rename(file.path + suffix, file.path);
    }),
  );
  const current = new Set(files.map((file) => basename(file.path)));
  const stale = (await readdir(outdir)).filter(
    (name) => !current.has(name) && !name.endsWith('.tmp'),
  );
  await Promise.all(stale.map((name) => rm(join(outdir, name), { force: true, recursive: true })));
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { outdir: { type: 'string' } } });
  const outdir = values.outdir ? resolve(values.outdir) : undefined;
  try {
    await buildBundle({ outdir });
    console.log(`Built ${relative(process.cwd(), outdir ?? resolve(ROOT, 'dist')) || '.'}/`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
