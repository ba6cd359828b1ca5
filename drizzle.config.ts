import { defineConfig } from 'drizzle-kit';

// `db:generate` diffs the tables against `migrations/` and needs no database. `db:migrate`
// is `scripts/migrate.ts`, which takes the same advisory lock as the API's start-up.
export default defineConfig({
  dialect: 'postgresql',
  schema: ['./src/modules/*/*.table.ts', './src/core/*/*.table.ts'],
  out: './migrations',
  casing: 'snake_case',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
});
