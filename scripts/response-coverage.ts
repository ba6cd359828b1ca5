/**
 * `npm run responses:check -- --dir <dir>`: response coverage. Merges what a test run
 * recorded (`RESPONSE_COVERAGE_DIR=<dir> npm test`, see test/support/response-recording.ts)
 * and holds it against the OpenAPI document from the code: prints a table of every
 * operation's declared statuses, and fails when a test got a status its operation does not
 * declare, or when a declared status was never exercised (the exemptions below aside).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ExitError } from '../src/core/exit-error.ts';
import { runMain } from '../src/core/main.ts';
import { renderOpenApi } from './openapi.ts';

/**
 * Statuses no test has to produce, with the reason. Every operation declares them, and
 * each is proven once for all operations by a test of the mechanism that answers it
 * (test/faults.test.ts: the error handler's 500, dependencies down, timeouts).
 */
export const EXEMPT_STATUSES: Record<string, string> = {
  '500': 'an unexpected error: only a bug produces it; the error handler is tested once',
  '503': 'a dependency down or a timeout: tested once per mechanism, not per operation',
};

export const RecordedFile = z.object({
  source: z.string(),
  responses: z.array(
    z.object({
      method: z.string(),
      route: z.string(),
      status: z.number().int(),
      count: z.number(),
    }),
  ),
});
export type RecordedResponse = z.infer<typeof RecordedFile>['responses'][number];

/** The parts of the document this report reads. */
export interface DocumentOperations {
  paths?: Record<string, Record<string, unknown>>;
}

export interface OperationCoverage {
  /** `GET /v1/items/{id}` */
  label: string;
  declared: string[];
  exercised: string[];
  /** Declared, not exempt, and no test got it. */
  missing: string[];
  /** Got by a test, and not declared. */
  undeclared: string[];
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace']);

/** A router's template as the document writes it: `/v1/items/:id` → `/v1/items/{id}`. */
export function documentPath(route: string): string {
  return route.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}');
}

/** Every operation of the document against what was recorded. */
export function compareCoverage(
  document: DocumentOperations,
  recorded: RecordedResponse[],
  exempt: Iterable<string> = Object.keys(EXEMPT_STATUSES),
): OperationCoverage[] {
  const exemptStatuses = new Set(exempt);
  const got = new Map<string, Set<string>>();
  for (const { method, route, status } of recorded) {
    const label = `${method.toUpperCase()} ${documentPath(route)}`;
    const statuses = got.get(label) ?? new Set<string>();
    statuses.add(String(status));
    got.set(label, statuses);
  }
  const report: OperationCoverage[] = [];
  for (const [path, pathItem] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(pathItem)) {
      if (!METHODS.has(method) || typeof operation !== 'object' || operation === null) continue;
      const responses: unknown = Reflect.get(operation, 'responses');
      const declared = Object.keys(typeof responses === 'object' && responses ? responses : {});
      const label = `${method.toUpperCase()} ${path}`;
      const exercised = [...(got.get(label) ?? [])].sort();
      const covers = (status: string) =>
        declared.includes(status) || declared.includes(`${status[0]}XX`);
      report.push({
        label,
        declared,
        exercised,
        missing: declared.filter(
          (status) => !exemptStatuses.has(status) && !exercised.includes(status),
        ),
        undeclared: declared.includes('default') ? [] : exercised.filter((s) => !covers(s)),
      });
    }
  }
  return report;
}

/** The table for CI's log: one line per operation, then what fails. */
export function formatCoverage(report: OperationCoverage[]): string {
  const width = Math.max(...report.map((row) => row.label.length), 9);
  const mark = (row: OperationCoverage, status: string) => {
    if (row.exercised.includes(status)) return status;
    return row.missing.includes(status) ? `${status}✗` : `(${status})`;
  };
  const lines = [
    `${'operation'.padEnd(width)}  statuses (✗ never exercised, (…) exempt, ! undeclared)`,
    ...report.map((row) =>
      [
        row.label.padEnd(width),
        ...row.declared.map((status) => mark(row, status)),
        ...row.undeclared.map((status) => `${status}!`),
      ].join('  '),
    ),
  ];
  const pairs = report.reduce((sum, row) => sum + row.declared.length, 0);
  const exercised = report.reduce(
    (sum, row) => sum + row.exercised.filter((s) => row.declared.includes(s)).length,
    0,
  );
  const missing = report.flatMap((row) => row.missing.map((status) => `${row.label} ${status}`));
  const undeclared = report.flatMap((row) =>
    row.undeclared.map((status) => `${row.label} ${status}`),
  );
  lines.push(
    '',
    `${report.length} operations, ${pairs} declared statuses, ${exercised} exercised; ` +
      `exempt: ${Object.entries(EXEMPT_STATUSES)
        .map(([status, why]) => `${status} (${why})`)
        .join(', ')}.`,
  );
  if (missing.length > 0) lines.push(`Declared, never exercised:\n  ${missing.join('\n  ')}`);
  if (undeclared.length > 0) lines.push(`Exercised, not declared:\n  ${undeclared.join('\n  ')}`);
  return lines.join('\n');
}

/** Every recorded response under `dir`, from every file a test process wrote. */
export async function readRecorded(dir: string): Promise<RecordedResponse[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.json'));
  const files = await Promise.all(
    names.map(async (name) =>
      RecordedFile.parse(JSON.parse(await readFile(join(dir, name), 'utf8'))),
    ),
  );
  return files.flatMap((file) => file.responses);
}

if (import.meta.main) {
  runMain(async () => {
    const { values } = parseArgs({
      options: { dir: { type: 'string', default: process.env.RESPONSE_COVERAGE_DIR } },
    });
    if (!values.dir) {
      throw new ExitError(
        'Say where the test run recorded its responses: --dir <dir> (or RESPONSE_COVERAGE_DIR), as in `RESPONSE_COVERAGE_DIR=<dir> npm test`.',
        { exitCode: 2 },
      );
    }
    const recorded = await readRecorded(values.dir).catch((error: unknown) => {
      throw new ExitError(`Cannot read the recorded responses in ${values.dir}: ${String(error)}`, {
        exitCode: 2,
      });
    });
    if (recorded.length === 0) {
      throw new ExitError(
        `Nothing was recorded in ${values.dir}: run the tests with RESPONSE_COVERAGE_DIR set.`,
        {
          exitCode: 2,
        },
      );
    }
    const document = JSON.parse(await renderOpenApi()) as DocumentOperations;
    const report = compareCoverage(document, recorded);
    console.log(formatCoverage(report));
    if (report.some((row) => row.missing.length > 0 || row.undeclared.length > 0)) {
      process.exitCode = 1;
    }
  });
}
