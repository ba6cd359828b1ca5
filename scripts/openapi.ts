/**
 * `npm run openapi`: writes the OpenAPI document to `openapi.json` (committed), for client
 * generators and reviews. `--check` fails instead when the committed file is out of date,
 * which CI runs so the file cannot drift from the code.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createApp } from '../src/app.ts';
import { runMain } from '../src/core/main.ts';
import { parseSettings } from '../src/core/settings.ts';
import { createDeps } from '../src/deps.ts';

export const OPENAPI_FILE = 'openapi.json';

/** The document exactly as `/openapi.json` serves it, formatted for review. */
export async function renderOpenApi(): Promise<string> {
  // Routes need dependencies to be built, not to describe themselves: the PostgreSQL
  // client connects on its first query, and none is made, so no database is needed.
  const deps = await createDeps(
    parseSettings({
      NODE_ENV: 'test',
      DATABASE_URL: 'postgres://openapi@127.0.0.1:1/none',
      LOG_LEVEL: 'silent',
      MIGRATE_ON_START: 'false',
    }),
  );
  try {
    const response = await createApp(deps).request('/openapi.json');
    return `${JSON.stringify(await response.json(), null, 2)}\n`;
  } finally {
    await deps.close();
  }
}

if (import.meta.main) {
  runMain(async () => {
    const current = await renderOpenApi();
    if (process.argv.includes('--check')) {
      const committed = await readFile(OPENAPI_FILE, 'utf8').catch(() => '');
      if (committed !== current) {
        console.error(
          `${OPENAPI_FILE} is out of date: run \`npm run openapi\` and commit the result.`,
        );
        process.exit(1);
      }
      console.log(`${OPENAPI_FILE} is up to date.`);
      return;
    }
    await writeFile(OPENAPI_FILE, current);
    console.log(`Wrote ${OPENAPI_FILE}.`);
  });
}
