import { z } from '@hono/zod-openapi';
import { CsvSyntaxError, parseCsv, restoreNeutralised } from '../../core/csv.ts';
import type { Deps } from '../../core/deps.ts';
import { defineJob, type JobContext, PermanentJobError } from '../../core/jobs/define-job.ts';
import { findUnsafeText } from '../../core/safe-text.ts';
import { ItemCreate } from '../items/items.schemas.ts';
import { insertItemsSkippingDuplicates } from '../items/items.service.ts';

const BATCH = 500;
const KNOWN_COLUMNS = new Set(['name', 'description', 'price', 'tags', 'status']);
/** Columns an export has that an import ignores, so an export can be imported back. */
const IGNORED_COLUMNS = new Set(['id', 'version', 'createdAt', 'updatedAt']);
const MAX_REPORTED = 1_000;

export interface RejectedRow {
  line: number;
  reason: string;
}

type ValidRow = { line: number; item: ItemCreate };

/**
 * Reads the whole file first: a malformed file (bad header, broken quoting, wrong number of
 * fields) fails the job before anything is inserted. Valid rows then go in by batches, one
 * transaction each; invalid rows and duplicate names are reported with their line numbers.
 */
async function readRows(
  chunks: AsyncIterable<Uint8Array>,
): Promise<{ valid: ValidRow[]; rejected: RejectedRow[] }> {
  const valid: ValidRow[] = [];
  const rejected: RejectedRow[] = [];
  let header: string[] | undefined;
  try {
    for await (const record of parseCsv(chunks)) {
      if (!header) {
        header = record.fields.map((name) => name.trim());
        const unknown = header.filter(
          (name) => !KNOWN_COLUMNS.has(name) && !IGNORED_COLUMNS.has(name),
        );
        if (unknown.length > 0)
          throw new PermanentJobError(`line 1: unknown columns: ${unknown.join(', ')}`);
        for (const required of ['name', 'price']) {
          if (!header.includes(required))
            throw new PermanentJobError(`line 1: the header has no "${required}" column`);
        }
        continue;
      }
      if (record.fields.length !== header.length) {
        throw new PermanentJobError(
          `line ${record.line}: expected ${header.length} fields, found ${record.fields.length}`,
        );
      }
      const raw: Record<string, unknown> = {};
      header.forEach((name, index) => {
        // An export writes `'=…` for a cell starting `=…` (CSV injection): read it back as it was.
        const value = restoreNeutralised(record.fields[index] ?? '');
        if (!KNOWN_COLUMNS.has(name) || (value === '' && name !== 'name' && name !== 'price'))
          return;
        raw[name] = name === 'tags' ? value.split(';').filter((tag) => tag.length > 0) : value;
      });
      const parsed = ItemCreate.safeParse(raw);
      // The same text rule as every request: a NUL would fail the whole batch's insert.
      const problems = parsed.success
        ? findUnsafeText(parsed.data).map((found) => `${found.path}: ${found.message}`)
        : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'row'}: ${issue.message}`);
      if (parsed.success && problems.length === 0)
        valid.push({ line: record.line, item: parsed.data });
      else rejected.push({ line: record.line, reason: problems.join('; ') });
    }
  } catch (error) {
    if (error instanceof CsvSyntaxError)
      throw new PermanentJobError(`The file is not valid CSV: ${error.message}`);
    throw error;
  }
  if (!header) throw new PermanentJobError('The file is empty');
  return { valid, rejected };
}

/** Imports items from an uploaded CSV file: the worked example of a file upload. */
export const importItems = defineJob({
  name: 'imports.run',
  input: z.object({ uploadKey: z.string().regex(/^imports\/[0-9a-f-]{36}\.csv$/) }),
  attempts: 3,
  timeoutMs: 10 * 60_000,
  concurrency: 2,
  async run({ uploadKey }, { deps, ownerId, progress, signal, logger }: JobContext<Deps>) {
    if (!ownerId) throw new PermanentJobError('An import needs the user who uploaded it');
    let rows: Awaited<ReturnType<typeof readRows>>;
    try {
      rows = await readRows(deps.storage.read(uploadKey));
    } catch (error) {
      // A malformed file fails for good: no retry will read the upload again.
      if (error instanceof PermanentJobError) await deps.storage.delete(uploadKey);
      throw error;
    }
    const { valid, rejected } = rows;
    let inserted = 0;
    for (let start = 0; start < valid.length; start += BATCH) {
      signal.throwIfAborted();
      const batch = valid.slice(start, start + BATCH);
      const names = await deps.db.transaction((tx) =>
        insertItemsSkippingDuplicates(
          tx,
          ownerId,
          batch.map((row) => row.item),
        ),
      );
      // A name repeated within the file is inserted once: the first row wins.
      const seen = new Set<string>();
      for (const row of batch) {
        if (names.has(row.item.name) && !seen.has(row.item.name)) {
          seen.add(row.item.name);
          inserted += 1;
        } else {
          rejected.push({
            line: row.line,
            reason: `an item named "${row.item.name}" already exists`,
          });
        }
      }
      await progress(((start + batch.length) / valid.length) * 100);
    }
    await deps.storage.delete(uploadKey);
    rejected.sort((a, b) => a.line - b.line);
    logger.info({ inserted, rejected: rejected.length }, 'import finished');
    return { inserted, rejectedCount: rejected.length, rejected: rejected.slice(0, MAX_REPORTED) };
  },
});
