import type { Database } from '../../core/db/database.ts';
import type { InvalidationBus } from '../../core/invalidation-bus.ts';
import { localCache } from '../../core/local-cache.ts';
import { budgetsOfCall, type StoredBudget } from './budgets.service.ts';
import type { Caller } from './limits.ts';

/** The invalidation message of a budget change: every process drops every cached budget. */
const CHANGED = 'ai-budgets:changed';

/**
 * The budgets a call must fit, cached per process: every gateway call asks, and budgets
 * change rarely. A change made through `changed()` reaches every process at once through
 * the invalidation bus; when the bus is down, `ttlMs` bounds how long a process may
 * enforce the old budgets.
 */
export interface BudgetCache {
  of(caller: Caller): Promise<StoredBudget[]>;
  /** Call after creating, changing or deleting a budget. */
  changed(): Promise<void>;
}

export function budgetCache(options: {
  db: Database;
  invalidations: InvalidationBus;
  ttlMs: number;
}): BudgetCache {
  const { db, invalidations } = options;
  const cache = localCache<StoredBudget[]>({
    max: 10_000,
    ttlMs: options.ttlMs,
    load: (key) => {
      const [userId = '', apiKeyId] = key.split(' ');
      return budgetsOfCall(db, userId, apiKeyId);
    },
  });
  invalidations.subscribe({
    message(message) {
      if (message === CHANGED) cache.clear();
    },
    gap() {
      cache.clear();
    },
  });
  return {
    of(caller) {
      return cache.get(caller.apiKeyId ? `${caller.userId} ${caller.apiKeyId}` : caller.userId);
    },
    async changed() {
      // Here at once, whatever becomes of the message.
      cache.clear();
      await invalidations.publish(CHANGED);
    },
  };
}
