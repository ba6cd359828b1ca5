import { setImmediate as afterThisTurn } from 'node:timers/promises';
import { and, eq, getTableColumns, gte, lt, sql } from 'drizzle-orm';
import type { Database } from '../../core/db/database.ts';
import { preparedPerDatabase } from '../../core/db/prepared.ts';
import { groupedWrites } from '../../core/grouped-writes.ts';
import { uuidv7 } from '../../core/ids.ts';
import { aiCalls } from './ai.table.ts';
import { formatPicodollars } from './pricing.ts';

export type CallRecord = Omit<typeof aiCalls.$inferInsert, 'id' | 'cost' | 'createdAt'> & {
  /** 10^-12 US dollars. */
  costPicodollars: bigint;
};

type CallRow = Omit<typeof aiCalls.$inferInsert, 'createdAt'>;

/** The most calls one INSERT records. */
const MAX_GROUP = 32;
/**
 * How long a record nobody waits for (written beside its answer) waits for others when no
 * INSERT is in flight (decision 082): at a low rate, each call was an INSERT and a commit of
 * its own, each waking PostgreSQL while the next call was being answered. Shutdown waits for
 * it, as for any background task.
 */
const LINGER_MS = 25;

/** A call's row as the INSERT reads it from JSON: every column but `createdAt` (its default). */
const ROW_KEYS = [
  'id',
  'userId',
  'apiKeyId',
  'operation',
  'model',
  'upstreamModel',
  'stream',
  'status',
  'inputTokens',
  'cachedInputTokens',
  'outputTokens',
  'usageEstimated',
  'cost',
  'latencyMs',
  'timeToFirstTokenMs',
  'finishReason',
  'cacheHit',
  'upstreamRequestId',
  'error',
] as const satisfies readonly (keyof CallRow)[];
// A column added to the table and not to the INSERT fails the compile here.
const everyColumn: Exclude<keyof CallRow, (typeof ROW_KEYS)[number]> extends never ? true : never =
  true;
void everyColumn;

const columns = getTableColumns(aiCalls);
/**
 * What the INSERT gives each of the table's columns, in the table's order, as drizzle's
 * INSERT … SELECT names them all: the row's value, and for `createdAt` what its default is.
 */
const selected = sql.join(
  Object.keys(columns).map((key) => (key === 'createdAt' ? sql`now()` : sql.identifier(key))),
  sql`, `,
);
/** The rows' JSON keys and their types: each its column's. */
const shape = sql.join(
  ROW_KEYS.map((key) => sql`${sql.identifier(key)} ${sql.raw(columns[key].getSQLType())}`),
  sql`, `,
);

/**
 * The rows as JSON that PostgreSQL reads back as text. An upstream's text (an error, a finish
 * reason) may hold a lone surrogate or a NUL, which JSON escapes and PostgreSQL then refuses
 * in text: such strings go as the UTF-8 of a parameter would have them (U+FFFD for a lone
 * surrogate), and a NUL as U+FFFD too, rather than failing the row.
 */
function rowsJson(rows: CallRow[]): string {
  const json = JSON.stringify(rows);
  if (!json.includes('\\ud') && !json.includes('\\u0000')) return json;
  return JSON.stringify(rows, (_key, value: unknown) =>
    typeof value === 'string' ? value.toWellFormed().replaceAll('\0', '\ufffd') : value,
  );
}

/**
 * The calls' rows of one database, written in groups while one is in flight (group commit):
 * under load, a row per call and statement was most of what the gateway cost PostgreSQL
 * (decision 059).
 */
const callWriter = preparedPerDatabase((db) => {
  // One INSERT of the rows given as one JSON array (`json_to_recordset`): a parameter a
  // group rather than one per column and row (decision 080). Prepared, so a group costs one
  // round trip; as `db.execute(sql)` it was an unnamed statement, parsed and described
  // (a round trip of its own) at every group (decision 081).
  const insert = db
    .insert(aiCalls)
    .select(
      sql`select ${selected} from json_to_recordset(${sql.placeholder('rows')}::json) as row(${shape})`,
    )
    .prepare('ai_calls_insert');
  return groupedWrites(
    async (rows: CallRow[]) => {
      await insert.execute({ rows: rowsJson(rows) });
    },
    { maxGroup: MAX_GROUP, lingerMs: LINGER_MS },
  );
});

/**
 * Runs work without the answer waiting for it: the API's background tasks, which shutdown
 * waits for (decisions 062 and 073).
 */
export type InBackground = (work: () => Promise<void>) => void;

/**
 * A call's bookkeeping: its record, the settling of its reservations, and `account` (its
 * metrics, span and log line). With `inBackground` the answer waits for none of it: the
 * record and `account` run at the end of the turn, after the answer has been written
 * (decision 077), and the record's commit is not waited for either; without it, all of it is
 * done first. The settlement has started already, so it goes to Redis in the turn the call
 * ends, before the caller's next request can be read; Redis runs one connection's commands
 * in order, so that next call sees the real amounts.
 */
export async function recordBesideAnswer(
  record: (options: RecordOptions) => Promise<unknown>,
  settled: Promise<void> | undefined,
  inBackground: InBackground | undefined,
  account: () => void,
): Promise<void> {
  if (!inBackground) {
    await Promise.all([record({ linger: false }), settled]);
    account();
    return;
  }
  inBackground(async () => {
    await afterThisTurn();
    // The record first: it is kept even should `account` throw.
    const stored = Promise.all([record({ linger: true }), settled]);
    account();
    await stored;
  });
}

export interface RecordOptions {
  /** Nobody waits for it: it may wait a moment for other records to go with (decision 082). */
  linger?: boolean;
}

/** Records one call as it ended; resolves once it is stored, with its id. */
export async function recordCall(
  db: Database,
  record: CallRecord,
  options: RecordOptions = {},
): Promise<string> {
  const id = uuidv7();
  await callWriter(db)(
    {
      id,
      userId: record.userId,
      apiKeyId: record.apiKeyId ?? null,
      operation: record.operation,
      model: record.model,
      upstreamModel: record.upstreamModel ?? null,
      stream: record.stream,
      status: record.status,
      inputTokens: record.inputTokens ?? 0,
      cachedInputTokens: record.cachedInputTokens ?? 0,
      outputTokens: record.outputTokens ?? 0,
      usageEstimated: record.usageEstimated ?? false,
      cost: formatPicodollars(record.costPicodollars),
      latencyMs: record.latencyMs,
      timeToFirstTokenMs: record.timeToFirstTokenMs ?? null,
      finishReason: record.finishReason ?? null,
      cacheHit: record.cacheHit ?? false,
      upstreamRequestId: record.upstreamRequestId ?? null,
      error: record.error ?? null,
    },
    options,
  );
  return id;
}

export interface UsageRow {
  day: string;
  model: string;
  calls: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  cost: string;
  estimatedCalls: number;
}

/** The calls' cost summed in exact numeric, as text (0 when there are none). */
const costSum = sql<string>`coalesce(sum(${aiCalls.cost}), 0)::numeric(24, 12)::text`;

/**
 * Usage by day (UTC) and model over `[from, to]` (whole days), for one user or (without
 * `userId`) everyone. Costs are summed by PostgreSQL in exact numeric.
 */
export async function usageReport(
  db: Database,
  query: { from: string; to: string; userId: string | undefined },
): Promise<{ data: UsageRow[]; totalCost: string }> {
  const start = new Date(`${query.from}T00:00:00Z`);
  const end = new Date(`${query.to}T00:00:00Z`);
  end.setUTCDate(end.getUTCDate() + 1);
  const day = sql<string>`to_char(${aiCalls.createdAt} at time zone 'UTC', 'YYYY-MM-DD')`;
  const inPeriod = and(
    gte(aiCalls.createdAt, start),
    lt(aiCalls.createdAt, end),
    query.userId === undefined ? undefined : eq(aiCalls.userId, query.userId),
  );
  const rows = await db
    .select({
      day,
      model: aiCalls.model,
      calls: sql<number>`count(*)::int`,
      inputTokens: sql<number>`coalesce(sum(${aiCalls.inputTokens}), 0)::int`,
      cachedInputTokens: sql<number>`coalesce(sum(${aiCalls.cachedInputTokens}), 0)::int`,
      outputTokens: sql<number>`coalesce(sum(${aiCalls.outputTokens}), 0)::int`,
      cost: costSum,
      estimatedCalls: sql<number>`(count(*) filter (where ${aiCalls.usageEstimated}))::int`,
    })
    .from(aiCalls)
    .where(inPeriod)
    .groupBy(day, aiCalls.model)
    .orderBy(day, aiCalls.model);
  const [total] = await db.select({ cost: costSum }).from(aiCalls).where(inPeriod);
  return { data: rows, totalCost: total?.cost ?? '0.000000000000' };
}

/** What `subject` spent since `since`, in exact decimal dollars (for budgets). */
export async function spentSince(
  db: Database,
  subject: { type: 'user' | 'api_key'; id: string },
  since: Date,
): Promise<string> {
  const column = subject.type === 'user' ? aiCalls.userId : aiCalls.apiKeyId;
  const [row] = await db
    .select({ cost: costSum })
    .from(aiCalls)
    .where(and(eq(column, subject.id), gte(aiCalls.createdAt, since)));
  return row?.cost ?? '0.000000000000';
}
