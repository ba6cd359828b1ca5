/**
 * `npm run new:module -- <name>`: scaffolds a resource module shaped like `items` (table,
 * schemas, service, routes, tests), registers it (routes, OpenAPI tag, scopes) and writes
 * its migration. `<name>` is the plural, one lowercase word (`widgets`); `--singular` sets
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

/** Rewrites the items module's text for another resource. Plural forms first. */
export function renameResource(text: string, names: ModuleNames): string {
  return text
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

/** Adds the module's import, routes and tag to `src/app.ts`. */
export function registerInApp(app: string, names: ModuleNames): string {
  const routes = `${names.singular}Routes`;
  let next = insertOnce(
    app,
    /^import \{ \w+ \} from '\.\/modules\/[\w-]+\/[\w.-]+\.routes\.ts';$/gm,
    (line) =>
      `${line}\nimport { ${routes} } from './modules/${names.plural}/${names.plural}.routes.ts';`,
    'import',
  );
  next = insertOnce(
    next,
    /\.route\('\/', \w+\(deps\)\);/g,
    (line) => `${line.slice(0, -1)}\n    .route('/', ${routes}(deps));`,
    'routes',
  );
  next = insertOnce(
    next,
    /^\];$/gm,
    (line) => `  { name: '${names.plural}', description: 'Your ${names.plural}.' },\n${line}`,
    'tag',
  );
  return next;
}

/** Adds `<plural>:read` and `<plural>:write` to the scope catalogue. */
export function registerScopes(scopes: string, names: ModuleNames): string {
  return insertOnce(
    scopes,
    /^ {2}admin: /gm,
    (line) =>
      `  '${names.plural}:read': 'Read your ${names.plural}',\n  '${names.plural}:write': 'Create, change and delete your ${names.plural}',\n${line}`,
    'scopes',
  );
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
  const appFile = join(root, 'src/app.ts');
  writeFileSync(appFile, registerInApp(readFileSync(appFile, 'utf8'), names));
  const scopesFile = join(root, 'src/core/security/scopes.ts');
  writeFileSync(scopesFile, registerScopes(readFileSync(scopesFile, 'utf8'), names));
  return [...written, appFile, scopesFile];
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
  for (const file of generateModule(process.cwd(), names)) console.log(`wrote ${file}`);
  execFileSync('npx', ['drizzle-kit', 'generate', '--name', plural], { stdio: 'inherit' });
  execFileSync('npx', ['biome', 'check', '--write', 'src', 'test'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/openapi.ts'], { stdio: 'inherit' });
  console.log(
    `\nThe ${plural} module is ready: src/modules/${plural}/. Next: npm run typecheck && npm test`,
  );
}

if (import.meta.main) main();
