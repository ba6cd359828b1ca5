/**
 * `npm run new:module -- <name>`: scaffolds a resource module shaped like `items` (manifest,
 * table, schemas, service, routes, tests), adds it to the list in `src/modules.ts` (which
 * gives it its routes, OpenAPI tag and scopes) and writes its migration. `<name>` is the plural, one lowercase word (`widgets`); `--singular` sets
 * the singular when dropping a final "s" is wrong (`--singular person` for `people`).
 *
 * The module is generated from the items module itself, so the two cannot drift apart, and
 * CI generates one in a scratch copy and runs its checks and tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const SOURCE = { plural: 'items', singular: 'item' };

export interface ModuleNames {
  plural: string;
  singular: string;
}

const capitalise = (word: string) => `${word[0]?.toUpperCase() ?? ''}${word.slice(1)}`;

/**
 * Beginnings that sound unlike their first letter: a vowel read as a consonant ("a user",
 * "a euro", "a one-off"), or a silent h ("an hour"). Only what resource names are likely to
 * start with; add to it when a name reads wrong.
 */
const SOUNDS_LIKE_A_CONSONANT = ['eu', 'ewe', 'one', 'uni', 'unit', 'use', 'usu', 'uti', 'ura'];
const SILENT_H = ['hour', 'honest', 'honor', 'honour', 'heir'];

/** "a" or "an" before `word`: the first letter decides, but for the beginnings listed above. */
export function articleFor(word: string): 'a' | 'an' {
  const lower = word.toLowerCase();
  if (SILENT_H.some((start) => lower.startsWith(start))) return 'an';
  if (SOUNDS_LIKE_A_CONSONANT.some((start) => lower.startsWith(start))) return 'a';
  return /^[aeiou]/.test(lower) ? 'an' : 'a';
}

/**
 * Rewrites the items module's text for another resource: "an item" first, as the article
 * depends on the new word, then plural forms before singular ones.
 */
export function renameResource(text: string, names: ModuleNames): string {
  const article = articleFor(names.singular);
  return text
    .replace(/\b([Aa])n (item|Item)\b/g, (_phrase, a: string, word: string) => {
      const chosen = a === 'A' ? capitalise(article) : article;
      return `${chosen} ${word}`;
    })
    .replaceAll(SOURCE.plural, names.plural)
    .replaceAll(capitalise(SOURCE.plural), capitalise(names.plural))
    .replaceAll(SOURCE.singular, names.singular)
    .replaceAll(capitalise(SOURCE.singular), capitalise(names.singular));
}

function insertOnce(
  text: string,
  pattern: RegExp,
  insert: (match: string) => string,
  what: string,
): string {
  const matches = [...text.matchAll(pattern)];
  const last = matches.at(-1);
  if (!last || last.index === undefined)
    throw new Error(`Could not find where to register the ${what}`);
  return `${text.slice(0, last.index)}${insert(last[0])}${text.slice(last.index + last[0].length)}`;
}

/**
 * Adds the module to the list in `src/modules.ts`, the one place a module is registered: its
 * manifest (copied from items') carries its routes, tag and scopes.
 */
export function registerModule(modules: string, names: ModuleNames): string {
  const manifest = `${camelCase(names.plural)}Module`;
  const withImport = insertOnce(
    modules,
    /^import \{ \w+Module \} from '\.\/modules\/[\w-]+\/[\w.-]+\.module\.ts';$/gm,
    (line) =>
      `${line}\nimport { ${manifest} } from './modules/${names.plural}/${names.plural}.module.ts';`,
    'import',
  );
  return insertOnce(withImport, /^\] as const;$/gm, (line) => `  ${manifest},\n${line}`, 'module');
}

function camelCase(name: string): string {
  return name.replace(/-([a-z])/g, (_dash, letter: string) => letter.toUpperCase());
}

function copyRenamed(fromDir: string, toDir: string, names: ModuleNames): string[] {
  mkdirSync(toDir, { recursive: true });
  const written: string[] = [];
  for (const file of readdirSync(fromDir)) {
    const target = join(toDir, renameResource(file, names));
    writeFileSync(target, renameResource(readFileSync(join(fromDir, file), 'utf8'), names));
    written.push(target);
  }
  return written;
}

/**
 * A name the items module already uses for something else ("order", for sort order): renaming
 * "item" to it would make two things of one word, and code that does not compile.
 */
export function clashingWord(root: string, names: ModuleNames): string | undefined {
  const words = new Set<string>();
  for (const dir of [
    join(root, 'src/modules', SOURCE.plural),
    join(root, 'test/modules', SOURCE.plural),
  ]) {
    for (const file of readdirSync(dir)) {
      for (const word of readFileSync(join(dir, file), 'utf8')
        .toLowerCase()
        .match(/[a-z0-9]+/g) ?? [])
        words.add(word);
    }
  }
  return [names.singular, names.plural].find((name) => words.has(name));
}

export function generateModule(root: string, names: ModuleNames): string[] {
  const moduleDir = join(root, 'src/modules', names.plural);
  if (existsSync(moduleDir)) throw new Error(`${moduleDir} already exists`);
  const written = [
    ...copyRenamed(join(root, 'src/modules', SOURCE.plural), moduleDir, names),
    ...copyRenamed(
      join(root, 'test/modules', SOURCE.plural),
      join(root, 'test/modules', names.plural),
      names,
    ),
  ];
  const modulesFile = join(root, 'src/modules.ts');
  writeFileSync(modulesFile, registerModule(readFileSync(modulesFile, 'utf8'), names));
  return [...written, modulesFile];
}

function main(): void {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { singular: { type: 'string' } },
  });
  const plural = positionals[0] ?? '';
  if (!/^[a-z][a-z0-9]{1,40}$/.test(plural)) {
    console.error(
      'Usage: npm run new:module -- <plural name, one lowercase word> [--singular <name>]',
    );
    process.exit(1);
  }
  const singular = values.singular ?? plural.replace(/ies$/, 'y').replace(/s$/, '');
  if (!/^[a-z][a-z0-9]{0,40}$/.test(singular) || singular === plural) {
    console.error(`Cannot derive a singular from "${plural}"; pass --singular.`);
    process.exit(1);
  }
  const names = { plural, singular };
  if (existsSync(join('src/modules', plural))) {
    console.error(`src/modules/${plural} exists already; choose another name.`);
    process.exit(1);
  }
  const clash = clashingWord(process.cwd(), names);
  if (clash) {
    console.error(
      `The items module, which the new one is copied from, already uses the word "${clash}" for something else; choose another name.`,
    );
    process.exit(1);
  }
  for (const file of generateModule(process.cwd(), names)) console.log(`wrote ${file}`);
  for (const [what, command, args] of [
    ['drizzle-kit generate', 'npx', ['drizzle-kit', 'generate', '--name', plural]],
    ['biome check --write', 'npx', ['biome', 'check', '--write', 'src', 'test']],
    ['npm run openapi', process.execPath, ['scripts/openapi.ts']],
  ] as const) {
    try {
      execFileSync(command, args, { stdio: 'inherit' });
    } catch {
      // The step said what went wrong above; a stack trace here would only bury it.
      console.error(`\n${what} failed (see above); the module's files are written.`);
      process.exit(1);
    }
  }
  console.log(
    `\nThe ${plural} module is ready: src/modules/${plural}/. Next: npm run typecheck && npm test`,
  );
}

if (import.meta.main) main();
