/**
 * `npm run openapi:lint`: the committed `openapi.json` through the two linters most API
 * teams and tools use, Spectral (`spectral:oas`, `.spectral.yaml`) and Redocly CLI
 * (`recommended`, `redocly.yaml`), failing on any error or warning of either. Both come from
 * pinned devDependencies and work offline; Redocly's usage report home is turned off.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The committed document (`npm run openapi:check` keeps it equal to the code's). */
const OPENAPI_FILE = 'openapi.json';

const require = createRequire(import.meta.url);

/** The file a package's command runs, so it starts with this Node on every platform. */
function binOf(packageName: string, command: string): string {
  const manifestPath = require.resolve(`${packageName}/package.json`);
  const manifest: unknown = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const bin: unknown =
    typeof manifest === 'object' && manifest !== null ? Reflect.get(manifest, 'bin') : undefined;
  const file: unknown =
    typeof bin === 'object' && bin !== null ? Reflect.get(bin, command) : undefined;
  if (typeof file !== 'string') throw new Error(`${packageName} has no \`${command}\` command`);
  return join(dirname(manifestPath), file);
}

const LINTERS = [
  {
    name: 'Spectral (spectral:oas)',
    args: [binOf('@stoplight/spectral-cli', 'spectral'), 'lint', '--fail-severity=warn'],
  },
  { name: 'Redocly CLI (recommended)', args: [binOf('@redocly/cli', 'redocly'), 'lint'] },
];

const file = process.argv[2] ?? OPENAPI_FILE;
let failed = false;
for (const linter of LINTERS) {
  console.log(`\n-- ${linter.name}: ${file}`);
  const result = spawnSync(process.execPath, [...linter.args, file], {
    stdio: 'inherit',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
  });
  if (result.status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
