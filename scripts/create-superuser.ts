/**
 * `npm run create-superuser -- --email admin@example.com [--name Admin]`: creates the first
 * administrator, or makes an existing account one. The password never lands in shell
 * history: it comes from `SUPERUSER_PASSWORD`, or the first line of standard input when that
 * is not a terminal, or is asked for twice on the terminal without being shown.
 */
import { parseArgs } from 'node:util';
import { databaseOptions, openDatabase } from '../src/core/db/database.ts';
import { ExitError } from '../src/core/exit-error.ts';
import { runMain } from '../src/core/main.ts';
import { loadSettings } from '../src/core/settings.ts';
import { createUser, findUserByEmail, updateUser } from '../src/modules/users/users.service.ts';
import { readFirstLine, readHiddenLine } from './password-input.ts';

const USAGE = `Usage: npm run create-superuser -- --email <email> [--name <name>]
The password comes from SUPERUSER_PASSWORD, or the first line of standard input, or is asked
for on the terminal.`;

const MIN_PASSWORD_LENGTH = 8;

function usageError(problem: string): ExitError {
  return new ExitError(`${problem}\n${USAGE}`, { exitCode: 2 });
}

function parseCommandLine(): { email: string; name: string } {
  let values: { email?: string | undefined; name: string };
  try {
    ({ values } = parseArgs({
      options: { email: { type: 'string' }, name: { type: 'string', default: 'Administrator' } },
    }));
  } catch (error) {
    throw usageError(error instanceof Error ? error.message : String(error));
  }
  const email = values.email?.trim().toLowerCase();
  if (!email) throw usageError('--email is required.');
  if (!/^[^@\s]+@[^@\s]+$/.test(email))
    throw usageError(`--email: "${email}" is not an email address.`);
  return { email, name: values.name };
}

async function readPassword(): Promise<string> {
  const fromEnvironment = process.env.SUPERUSER_PASSWORD;
  if (fromEnvironment !== undefined) return fromEnvironment;
  if (!process.stdin.isTTY) {
    const line = await readFirstLine(process.stdin);
    if (line === '') {
      throw new ExitError(
        'No password: set SUPERUSER_PASSWORD, pass it on standard input, or run this on a terminal.',
      );
    }
    return line;
  }
  const password = await readHiddenLine(
    process.stdin,
    process.stderr,
    `Password (${MIN_PASSWORD_LENGTH} characters or more): `,
  );
  const again = await readHiddenLine(process.stdin, process.stderr, 'Password (again): ');
  if (password !== again) throw new ExitError('The passwords do not match; nothing was changed.');
  return password;
}

runMain(async () => {
  const { email, name } = parseCommandLine();
  const settings = loadSettings();
  const database = await openDatabase(databaseOptions(settings, 1));
  try {
    if (settings.MIGRATE_ON_START) await database.migrate();
    const existing = await findUserByEmail(database.db, email);
    if (existing) {
      await updateUser(database.db, existing.id, { role: 'admin', isActive: true });
      console.log(`${existing.email} is now an administrator.`);
      return;
    }
    const password = await readPassword();
    if (password.length < MIN_PASSWORD_LENGTH) {
      throw new ExitError(`The password needs ${MIN_PASSWORD_LENGTH} characters or more.`);
    }
    const user = await createUser(database.db, { email, password, name, role: 'admin' });
    console.log(`Created administrator ${user.email} (${user.id}).`);
  } finally {
    await database.close();
  }
});
