import { z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../../core/app-env.ts';
import type { Deps } from '../../core/deps.ts';
import { ForbiddenError } from '../../core/domain-errors.ts';
import { eventStreamAnswer } from '../../core/event-stream.ts';
import { IdParams } from '../../core/ids.ts';
import { setAnswerHeader } from '../../core/node-response.ts';
import { PROBLEM_CONTENT_TYPE } from '../../core/problem.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, locationHeader, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import type { Principal } from '../../core/security/principal.ts';
import {
  Budget,
  BudgetCreate,
  BudgetList,
  BudgetUpdate,
  ChatCompletion,
  ChatCompletionRequest,
  ModelList,
  UsageQuery,
  UsageReport,
} from './ai.schemas.ts';
import { aiContextOf } from './ai-context.ts';
import { openAiErrorType } from './ai-errors.ts';
import {
  budgetStatus,
  createBudget,
  deleteBudget,
  getBudget,
  listBudgets,
  type StoredBudget,
  updateBudget,
} from './budgets.service.ts';
import { type CacheMode, runChat } from './chat.service.ts';
import { callerOf } from './limits.ts';
import { templateRoutes } from './templates.routes.ts';
import { usageReport } from './usage.service.ts';

const CacheHeaders = z.object({
  'cache-control': z.string().max(200).optional().openapi({
    description:
      '`no-cache`: do not answer from the cache (the fresh answer is stored); `no-store`: neither read nor store.',
  }),
  'x-ai-cache': z.enum(['use', 'skip']).optional().openapi({
    description:
      'Deterministic requests (temperature 0, or a seed) are answered from the cache by default; `use` allows it for any request (you accept a replayed answer), `skip` never.',
  }),
});

export const chatCompletionsRoute = defineRoute({
  method: 'post',
  path: '/v1/chat/completions',
  operationId: 'createChatCompletion',
  summary: 'Create a chat completion (OpenAI-compatible)',
  description:
    'OpenAI’s request and answer shapes: point any OpenAI client here by changing its base URL and key (an API key of this service, as `Authorization: Bearer hsk_…`). With `stream: true` the answer is server-sent events in OpenAI’s chunk format ending in `data: [DONE]`, passed through as the model sends them. Calls are limited per key in requests and tokens per minute (`x-ratelimit-*` headers) and by spend budgets (402 when used up; `x-budget-warning` as one nears), cached when deterministic (`x-ai-cache`), retried on the upstream’s 429 and 5xx, and recorded with their tokens and cost.',
  tags: ['ai'],
  auth: { scopes: ['ai:chat'] },
  // A long answer may take minutes; the upstream's own timeouts bound it (AI_TOTAL_TIMEOUT_MS).
  timeoutMs: 15 * 60_000,
  request: {
    headers: CacheHeaders,
    body: { content: { 'application/json': { schema: ChatCompletionRequest } }, required: true },
  },
  responses: {
    200: {
      description: 'The answer: whole (JSON), or streamed (server-sent events) with `stream: true`',
      content: {
        'application/json': { schema: ChatCompletion },
        'text/event-stream': {
          schema: z.string().openapi({
            example:
              'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764460800,"model":"dev-local-echo","choices":[{"index":0,"delta":{"content":"Bonjour"},"finish_reason":null}]}\n\ndata: [DONE]\n\n',
          }),
        },
      },
    },
    ...problemResponses(402, 404, 502),
  },
});

export const listModelsRoute = defineRoute({
  method: 'get',
  path: '/v1/models',
  operationId: 'listModels',
  summary: 'List the models (OpenAI-compatible)',
  description:
    'The gateway’s model table, in OpenAI’s shape, with each model’s window and exact prices.',
  tags: ['ai'],
  auth: { scopes: ['ai:chat'] },
  responses: { 200: jsonResponse(ModelList, 'The models you may call') },
});

export const usageRoute = defineRoute({
  method: 'get',
  path: '/v1/ai/usage',
  operationId: 'getAiUsage',
  summary: 'Your AI usage by day and model',
  description:
    'Calls, tokens and exact cost per day (UTC) and model. Administrators see everyone’s, or one user’s with `userId`.',
  tags: ['ai'],
  auth: { scopes: ['ai:chat'] },
  request: { query: UsageQuery },
  responses: { 200: jsonResponse(UsageReport, 'Usage over the days asked') },
});

const BUDGET_DESCRIPTION =
  'A hard limit on what a user or an API key may spend per calendar day or month (UTC). Past it, calls answer 402 until the period ends; near it, answers carry `x-budget-warning`.';

export const createBudgetRoute = defineRoute({
  method: 'post',
  path: '/v1/ai/budgets',
  operationId: 'createAiBudget',
  summary: 'Give a user or an API key a spend budget (admin)',
  description: BUDGET_DESCRIPTION,
  tags: ['ai'],
  auth: { scopes: ['admin'] },
  request: { body: { content: { 'application/json': { schema: BudgetCreate } }, required: true } },
  responses: {
    201: { ...jsonResponse(Budget, 'The budget'), headers: locationHeader('The budget’s URL') },
  },
});

export const listBudgetsRoute = defineRoute({
  method: 'get',
  path: '/v1/ai/budgets',
  operationId: 'listAiBudgets',
  summary: 'Every spend budget, with what was spent (admin)',
  description:
    'Every spend budget, newest first, with what was spent in the current period and when it ends.',
  tags: ['ai'],
  auth: { scopes: ['admin'] },
  responses: { 200: jsonResponse(BudgetList, 'The budgets, newest first') },
});

export const getBudgetRoute = defineRoute({
  method: 'get',
  path: '/v1/ai/budgets/{id}',
  operationId: 'getAiBudget',
  summary: 'A spend budget, with what was spent (admin)',
  description:
    'One spend budget, with what was spent in the current period and when that period ends.',
  tags: ['ai'],
  auth: { scopes: ['admin'] },
  request: { params: IdParams },
  responses: { 200: jsonResponse(Budget, 'The budget'), ...problemResponses(404) },
});

export const updateBudgetRoute = defineRoute({
  method: 'patch',
  path: '/v1/ai/budgets/{id}',
  operationId: 'updateAiBudget',
  summary: 'Change a spend budget (admin)',
  description: BUDGET_DESCRIPTION,
  tags: ['ai'],
  auth: { scopes: ['admin'] },
  request: {
    params: IdParams,
    body: { content: { 'application/json': { schema: BudgetUpdate } }, required: true },
  },
  responses: { 200: jsonResponse(Budget, 'The budget'), ...problemResponses(404) },
});

export const deleteBudgetRoute = defineRoute({
  method: 'delete',
  path: '/v1/ai/budgets/{id}',
  operationId: 'deleteAiBudget',
  summary: 'Remove a spend budget (admin)',
  description:
    'Removes the budget: the user or key it limited is no longer limited by it. Past calls stay recorded.',
  tags: ['ai'],
  auth: { scopes: ['admin'] },
  request: { params: IdParams },
  responses: { 204: { description: 'Removed' }, ...problemResponses(404) },
});

/** The cache mode a request's headers ask for. */
function cacheMode(
  cacheControl: string | undefined,
  aiCache: 'use' | 'skip' | undefined,
): CacheMode {
  const directives = (cacheControl ?? '').toLowerCase();
  if (aiCache === 'skip' || directives.includes('no-store')) return 'bypass';
  if (directives.includes('no-cache')) return 'refresh';
  return aiCache === 'use' ? 'force' : 'default';
}

/**
 * The gateway's error answers stay problem documents, and also carry OpenAI's `error` object
 * (`message`, `type`, `code`, `param`), which OpenAI's clients read to report them.
 */
function openAiErrorBodies(): MiddlewareHandler<AppEnv> {
  return async function openAiErrorBodies(c, next) {
    await next();
    if (c.res.status < 400 || c.res.headers.get('content-type') !== PROBLEM_CONTENT_TYPE) return;
    const problem: unknown = await c.res.clone().json();
    if (typeof problem !== 'object' || problem === null || 'error' in problem) return;
    const field = (name: string) => (name in problem ? Reflect.get(problem, name) : undefined);
    const errors = field('errors');
    const firstError = Array.isArray(errors) ? (errors[0] as unknown) : undefined;
    // The field at fault: the one the problem names (the provider's), else the first invalid.
    const named = field('param');
    const param =
      typeof named === 'string'
        ? named
        : typeof firstError === 'object' && firstError !== null && 'path' in firstError
          ? String(firstError.path)
          : null;
    const body = {
      ...problem,
      error: {
        message: String(field('detail') ?? field('title') ?? 'Error'),
        type: openAiErrorType(c.res.status),
        code: typeof field('code') === 'string' ? field('code') : null,
        param,
      },
    };
    c.res = new Response(JSON.stringify(body), { status: c.res.status, headers: c.res.headers });
  };
}

function isAdmin(c: Context<AppEnv & { Variables: { principal: Principal } }>): boolean {
  return c.get('principal').scopes.has('admin');
}

/** The OpenAI-compatible gateway: chat completions and models, usage and budgets. */
export function aiRoutes(deps: Deps) {
  const ai = aiContextOf(deps);
  const router = createRouter();
  router.use('/v1/chat/*', openAiErrorBodies());
  router.use('/v1/models', openAiErrorBodies());
  router.use('/v1/embeddings', openAiErrorBodies());
  return router
    .route('/', templateRoutes(deps))
    .openapi(chatCompletionsRoute, async (c) => {
      const headers = c.req.valid('header');
      const result = await runChat(ai, callerOf(c.get('principal')), c.req.valid('json'), {
        signal: c.req.raw.signal,
        cache: cacheMode(headers['cache-control'], headers['x-ai-cache']),
        recordInBackground: (write) =>
          deps.background.run('record an AI call', write, c.get('logger')),
      });
      // Written with the head (decision 041): the answer keeps @hono/node-server's fast path.
      for (const [name, value] of Object.entries(result.headers)) setAnswerHeader(c, name, value);
      if (result.kind === 'json') return c.json(result.completion, 200);
      // Ended as OpenAI ends a stream. Proxies (nginx) must not buffer a stream that is meant
      // to arrive token by token.
      return eventStreamAnswer(c, result.events, {
        done: '[DONE]',
        headers: { 'cache-control': 'no-cache', 'x-accel-buffering': 'no' },
      });
    })
    .openapi(listModelsRoute, (c) => {
      const created = Math.floor(Date.parse('2026-01-01T00:00:00Z') / 1000);
      const data = ai.catalog.models.map((model) => ({
        id: model.id,
        object: 'model' as const,
        created,
        owned_by: ai.upstream.name === 'local' ? 'gateway' : ai.upstream.name,
        kind: model.kind,
        context_window: model.contextWindow,
        max_output_tokens: model.maxOutput,
        ...(model.dimensions === undefined ? {} : { dimensions: model.dimensions }),
        pricing: {
          input: model.inputPrice,
          cached_input: model.cachedInputPrice ?? model.inputPrice,
          output: model.outputPrice,
          unit: 'USD per 1M tokens' as const,
        },
      }));
      return sendJson(c, ModelList, { object: 'list', data }, 200);
    })
    .openapi(usageRoute, async (c) => {
      const query = c.req.valid('query');
      const admin = isAdmin(c);
      if (query.userId && !admin)
        throw new ForbiddenError('Only administrators read another user’s usage');
      const today = deps.clock.now();
      const to = query.to ?? today.toISOString().slice(0, 10);
      const from =
        query.from ?? new Date(today.getTime() - 29 * 86_400_000).toISOString().slice(0, 10);
      const userId = admin ? query.userId : c.get('principal').userId;
      const report = await usageReport(deps.db, { from, to, userId });
      return sendJson(c, UsageReport, { from, to, ...report }, 200);
    })
    .openapi(createBudgetRoute, async (c) => {
      const { subject, subjectId, period, limitUsd } = c.req.valid('json');
      const budget = await createBudget(deps.db, {
        subject: { type: subject, id: subjectId },
        period,
        limitUsd,
      });
      await ai.budgets.changed();
      c.header('location', `/v1/ai/budgets/${budget.id}`);
      return sendJson(
        c,
        Budget,
        publicBudget(await budgetStatus(deps.db, budget, deps.clock.now())),
        201,
      );
    })
    .openapi(listBudgetsRoute, async (c) => {
      const now = deps.clock.now();
      const budgets = await listBudgets(deps.db);
      const data = await Promise.all(
        budgets.map(async (budget) => publicBudget(await budgetStatus(deps.db, budget, now))),
      );
      return sendJson(c, BudgetList, { data }, 200);
    })
    .openapi(getBudgetRoute, async (c) => {
      const budget = await getBudget(deps.db, c.req.valid('param').id);
      return sendJson(
        c,
        Budget,
        publicBudget(await budgetStatus(deps.db, budget, deps.clock.now())),
        200,
      );
    })
    .openapi(updateBudgetRoute, async (c) => {
      const budget = await updateBudget(deps.db, c.req.valid('param').id, c.req.valid('json'));
      await ai.budgets.changed();
      return sendJson(
        c,
        Budget,
        publicBudget(await budgetStatus(deps.db, budget, deps.clock.now())),
        200,
      );
    })
    .openapi(deleteBudgetRoute, async (c) => {
      await deleteBudget(deps.db, c.req.valid('param').id);
      await ai.budgets.changed();
      return c.body(null, 204);
    });
}

/** A budget as clients see it. */
function publicBudget(budget: StoredBudget & { spentUsd: string; periodEndsAt: Date }) {
  const { id, subject, period, limitUsd, spentUsd, periodEndsAt } = budget;
  return {
    id,
    subject: subject.type,
    subjectId: subject.id,
    period,
    limitUsd,
    spentUsd,
    periodEndsAt,
  };
}
