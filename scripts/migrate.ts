/**
 * `npm run db:migrate`: applies pending migrations to `DATABASE_URL`, or to the embedded
 * database when it is unset. The one step that changes a production schema.
 */
import { databaseOptions, openDatabase } from '../src/core/db/database.ts';
import { runMain } from '../src/core/main.ts';
import { loadSettings } from '../src/core/settings.ts';

// Run, not imported: the image's build imports the bundle to fill the compile cache (decision 056).
if (import.meta.main) {
  runMain(async () => {
    const settings = loadSettings();
    const database = await openDatabase(databaseOptions(settings, 1));
    try {
      await database.migrate();
      console.log(`Migrations applied (${database.kind} database).`);
    } finally {
      await database.close();
    }
  });
}
