import { and, desc, eq, or, sql } from 'drizzle-orm';
import type { Database } from '../../core/db/database.ts';
import { preparedPerDatabase } from '../../core/db/prepared.ts';
import { NotFoundError } from '../../core/domain-errors.ts';
import { aiBudgets } from './ai.table.ts';
import { spentSince } from './usage.service.ts';

export type BudgetSubject = { type: 'user' | 'api_key'; id: string };
export type BudgetPeriod = 'day' | 'month';

export interface Budget {
  subject: BudgetSubject;
  period: BudgetPeriod;
  /** US dollars, exact decimal. */
  limitUsd: string;
}

/** The calendar period (UTC) `now` falls in: its start and its end. */
export function periodOf(period: BudgetPeriod, now: Date): { start: Date; end: Date } {
  const start =
    period === 'day'
      ? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
      : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const end = new Date(start);
  if (period === 'day') end.setUTCDate(end.getUTCDate() + 1);
  else end.setUTCMonth(end.getUTCMonth() + 1);
  return { start, end };
}

export interface StoredBudget extends Budget {
  id: string;
  createdAt: Date;
}

function fromRow(row: typeof aiBudgets.$inferSelect): StoredBudget {
  return {
    id: row.id,
    subject: { type: row.subjectType, id: row.subjectId },
    period: row.period,
    limitUsd: row.limitUsd,
    createdAt: row.createdAt,
  };
}

const budgetsOfCaller = preparedPerDatabase((db) =>
  db
    .select()
    .from(aiBudgets)
    .where(
      or(
        and(eq(aiBudgets.subjectType, 'user'), eq(aiBudgets.subjectId, sql.placeholder('userId'))),
        and(
          eq(aiBudgets.subjectType, 'api_key'),
          eq(aiBudgets.subjectId, sql.placeholder('apiKeyId')),
        ),
      ),
    )
    .prepare('ai_budgets_of_caller'),
);

/**
 * Every budget a call by `userId` (with the key `apiKeyId`, if any) must fit: the user's and
 * the key's, in one prepared query, as every gateway call asks.
 */
export async function budgetsOfCall(
  db: Database,
  userId: string,
  apiKeyId: string | undefined,
): Promise<StoredBudget[]> {
  const rows = await budgetsOfCaller(db).execute({ userId, apiKeyId: apiKeyId ?? null });
  return rows.map(fromRow);
}

/** Gives `subject` a budget, beside any it has (a daily and a monthly one, say). */
export async function createBudget(db: Database, budget: Budget): Promise<StoredBudget> {
  const [row] = await db
    .insert(aiBudgets)
    .values({
      subjectType: budget.subject.type,
      subjectId: budget.subject.id,
      period: budget.period,
      limitUsd: budget.limitUsd,
    })
    .returning();
  if (!row) throw new Error('insert returned no row');
  return fromRow(row);
}

export async function getBudget(db: Database, id: string): Promise<StoredBudget> {
  const [row] = await db.select().from(aiBudgets).where(eq(aiBudgets.id, id));
  if (!row) throw new NotFoundError('budget');
  return fromRow(row);
}

/** Every budget, newest first. */
export async function listBudgets(db: Database): Promise<StoredBudget[]> {
  const rows = await db.select().from(aiBudgets).orderBy(desc(aiBudgets.id));
  return rows.map(fromRow);
}

export async function updateBudget(
  db: Database,
  id: string,
  changes: { period?: BudgetPeriod | undefined; limitUsd?: string | undefined },
): Promise<StoredBudget> {
  const values = {
    ...(changes.period === undefined ? {} : { period: changes.period }),
    ...(changes.limitUsd === undefined ? {} : { limitUsd: changes.limitUsd }),
  };
  const [row] =
    Object.keys(values).length === 0
      ? await db.select().from(aiBudgets).where(eq(aiBudgets.id, id))
      : await db.update(aiBudgets).set(values).where(eq(aiBudgets.id, id)).returning();
  if (!row) throw new NotFoundError('budget');
  return fromRow(row);
}

export async function deleteBudget(db: Database, id: string): Promise<void> {
  const deleted = await db
    .delete(aiBudgets)
    .where(eq(aiBudgets.id, id))
    .returning({ id: aiBudgets.id });
  if (deleted.length === 0) throw new NotFoundError('budget');
}

/** A budget with what was spent in its current period. */
export async function budgetStatus<B extends Budget>(
  db: Database,
  budget: B,
  now: Date,
): Promise<B & { spentUsd: string; periodEndsAt: Date }> {
  const { start, end } = periodOf(budget.period, now);
  return { ...budget, spentUsd: await spentSince(db, budget.subject, start), periodEndsAt: end };
}
