/**
 * `npm run create-superuser -- --email admin@example.com [--name Admin]`: creates the first
 * administrator, or makes an existing account one. The password comes from
 * `SUPERUSER_PASSWORD`, or is asked for on the terminal, so it never lands in shell history.
 */
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { openDatabase } from '../src/core/db/database.ts';
import { runMain } from '../src/core/main.ts';
import { createUser, findUserByEmail, updateUser } from '../src/modules/users/users.service.ts';
import { loadSettings } from '../src/settings.ts';

async function askPassword(): Promise<string> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await terminal.question('Password (8 characters or more): ');
  } finally {
    terminal.close();
  }
}

runMain(async () => {
  const { values } = parseArgs({
    options: { email: { type: 'string' }, name: { type: 'string', default: 'Administrator' } },
  });
  if (!values.email)
    throw new Error('Usage: npm run create-superuser -- --email admin@example.com [--name Admin]');
  const settings = loadSettings();
  const database = await openDatabase({
    url: settings.DATABASE_URL,
    poolMax: 1,
    dataDir: settings.DATA_DIR,
  });
  try {
    if (settings.MIGRATE_ON_START) await database.migrate();
    const existing = await findUserByEmail(database.db, values.email);
    if (existing) {
      await updateUser(database.db, existing.id, { role: 'admin', isActive: true });
      console.log(`${existing.email} is now an administrator.`);
      return;
    }
    const password = process.env.SUPERUSER_PASSWORD ?? (await askPassword());
    if (password.length < 8) throw new Error('The password needs 8 characters or more');
    const user = await createUser(database.db, {
      email: values.email.trim().toLowerCase(),
      password,
      name: values.name,
      role: 'admin',
    });
    console.log(`Created administrator ${user.email} (${user.id}).`);
  } finally {
    await database.close();
  }
});
