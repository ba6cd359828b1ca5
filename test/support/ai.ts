/**
 * The AI gateway under test: the real app on a loopback port, its upstream a fake
 * OpenAI-compatible server, a user with an `ai:chat` key, and the official `openai` client
 * pointed at the gateway, as a user's program would be.
 *
 * @example
 * const gateway = await startGateway();
 * after(() => gateway.close());
 * gateway.fake.script('chat', { kind: 'completion', content: 'Hi' });
 * const answer = await gateway.client.chat.completions.create({ model: 'gpt-test', messages });
 */
import OpenAI from 'openai';
import { createApp } from '../../src/app.ts';
import { listen } from '../../src/core/http-server.ts';
import type { User } from '../../src/modules/users/users.service.ts';
import { createTestApiKey, createTestUser } from './auth.ts';
import { createTestDeps, type TestDeps, type TestDepsOptions } from './deps.ts';
import { type FakeOpenAI, startFakeOpenAI } from './fake-openai.ts';

/** Two models: `gpt-test` falls back to `gpt-backup`. Prices per million tokens. */
export const TEST_MODELS = [
  {
    id: 'gpt-test',
    upstream: 'gpt-4o-mini',
    inputPrice: '0.15',
    cachedInputPrice: '0.075',
    outputPrice: '0.60',
    contextWindow: 2_000,
    maxOutput: 200,
    fallbacks: ['gpt-backup'],
  },
  {
    id: 'gpt-backup',
    upstream: 'gpt-4o',
    inputPrice: '2.5',
    outputPrice: '10',
    contextWindow: 4_000,
    maxOutput: 200,
  },
];

export const PROVIDER_KEY = 'sk-provider-secret';

export interface Gateway {
  deps: TestDeps;
  fake: FakeOpenAI;
  /** `http://127.0.0.1:<port>` of the gateway. */
  base: string;
  user: User;
  key: string;
  keyId: string;
  /** The official client, with the gateway as its base URL and the user's key. */
  client: OpenAI;
  /** POSTs `body` as JSON to `path` with the user's key (unless `headers` say otherwise). */
  postJson(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** An administrator gives the user's key a budget: the answer to `POST /v1/ai/budgets`. */
  keyBudget(
    admin: { headers: { authorization: string } },
    budget: { period: 'day' | 'month'; limitUsd: string },
  ): Promise<Response>;
  close(): Promise<void>;
}

export async function startGateway(
  options: { env?: TestDepsOptions['env']; logger?: TestDepsOptions['logger'] } = {},
): Promise<Gateway> {
  const fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
  const deps = await createTestDeps({
    env: {
      AI_UPSTREAM_URL: fake.baseUrl,
      AI_UPSTREAM_API_KEY: PROVIDER_KEY,
      AI_MODELS: JSON.stringify(TEST_MODELS),
      AI_MAX_RETRIES: '2',
      RATE_LIMIT_DEFAULT_REQUESTS: '100000',
      ...options.env,
    },
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const server = await listen({ fetch: createApp(deps).fetch, host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${server.port}`;
  const owner = await createTestUser(deps);
  const { key, id } = await createTestApiKey(deps, owner.user, ['ai:chat']);
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
  const postJson = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  return {
    deps,
    fake,
    base,
    user: owner.user,
    key,
    keyId: id,
    client,
    postJson,
    keyBudget: (admin, budget) =>
      postJson('/v1/ai/budgets', { subject: 'api_key', subjectId: id, ...budget }, admin.headers),
    async close() {
      await server.drain(1_000);
      await fake.close();
      await deps.close();
    },
  };
}

/** The JSON body a request to the fake carried, as an object (the test fails otherwise). */
export function bodyOf(request: { body: unknown } | undefined): Record<string, unknown> {
  const body = request?.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new Error(`expected a JSON object body, got ${JSON.stringify(body)}`);
  }
  return { ...body };
}
