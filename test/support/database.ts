import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import postgres from 'postgres';
import { MIGRATIONS_FOLDER, migratePostgres } from '../../src/core/db/migrate.ts';

/** A server where the tests may create and drop databases; the machine's own by default. */
export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const TEMPLATE_LOCK_ID = 7_262_119;

function databaseUrl(name: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Names the template after the migrations, so changing one builds a fresh template. */
async function migrationsFingerprint(): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (dir: string) => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else hash.update(entry.name).update(await readFile(path));
    }
  };
  await walk(MIGRATIONS_FOLDER);
  return hash.digest('hex').slice(0, 16);
}

async function ensureTemplate(admin: postgres.Sql): Promise<string> {
  const template = `template_${await migrationsFingerprint()}`;
  // Test files start in parallel; one builds the template while the others wait.
  await admin`select pg_advisory_lock(${TEMPLATE_LOCK_ID})`;
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${template}`;
    if (!exists) {
      const building = `${template}_building`;
      await admin.unsafe(`drop database if exists "${building}"`);
      await admin.unsafe(`create database "${building}"`);
      await migratePostgres(databaseUrl(building));
      await admin.unsafe(`alter database "${building}" rename to "${template}"`);
    }
  } finally {
    await admin`select pg_advisory_unlock(${TEMPLATE_LOCK_ID})`;
  }
  return template;
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/**
 * A database of its own for one test file, cloned from a migrated template: as fast as an
 * empty one, and no file sees another's rows.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    const template = await ensureTemplate(admin);
    const name = `test_${process.pid}_${randomBytes(4).toString('hex')}`;
    await admin.unsafe(`create database "${name}" template "${template}"`);
    return {
      url: databaseUrl(name),
      name,
      async drop() {
        const dropper = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
        try {
          await dropper.unsafe(`drop database if exists "${name}" with (force)`);
        } finally {
          await dropper.end();
        }
      },
    };
  } finally {
    await admin.end();
  }
}
