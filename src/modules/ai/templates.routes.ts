import type { Deps } from '../../core/deps.ts';
import { IdParams } from '../../core/ids.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, locationHeader, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import {
  Template,
  TemplateAnswer,
  TemplateCall,
  TemplateCreate,
  TemplateList,
  TemplateListQuery,
} from './ai.schemas.ts';
import { aiContextOf } from './ai-context.ts';
import { callerOf } from './limits.ts';
import { MAX_CHECK_STEPS } from './template-schemas.ts';
import {
  completeTemplate,
  createTemplateVersion,
  getTemplate,
  listTemplates,
  MAX_RENDERED_CHARS,
  type PromptTemplate,
} from './templates.service.ts';

export const createTemplateRoute = defineRoute({
  method: 'post',
  path: '/v1/ai/templates',
  operationId: 'createAiTemplate',
  summary: 'Save a prompt template (a new version)',
  description:
    'Messages with `{{variable}}` placeholders, the JSON Schema of the variables, and optionally the JSON Schema the answer must fit. Saving a name again makes its next version; older versions stay callable by their id.',
  tags: ['ai'],
  auth: { scopes: ['ai:chat'] },
  request: {
    body: { content: { 'application/json': { schema: TemplateCreate } }, required: true },
  },
  responses: {
    201: { ...jsonResponse(Template, 'The version saved'), headers: locationHeader('Its URL') },
  },
});

export const listTemplatesRoute = defineRoute({
  method: 'get',
  path: '/v1/ai/templates',
  operationId: 'listAiTemplates',
  summary: 'Your prompt templates',
  description:
    'The latest version of each of your templates, or with `name` every version of that one, newest first.',
  tags: ['ai'],
  auth: { scopes: ['ai:chat'] },
  request: { query: TemplateListQuery },
  responses: {
    200: jsonResponse(TemplateList, 'The latest version of each, or every version of one'),
  },
});

export const getTemplateRoute = defineRoute({
  method: 'get',
  path: '/v1/ai/templates/{id}',
  operationId: 'getAiTemplate',
  summary: 'A version of a prompt template',
  description:
    'One version of one of your templates, by id, with its messages, variables schema and output schema.',
  tags: ['ai'],
  auth: { scopes: ['ai:chat'] },
  request: { params: IdParams },
  responses: { 200: jsonResponse(Template, 'The version'), ...problemResponses(404) },
});

export const callTemplateRoute = defineRoute({
  method: 'post',
  path: '/v1/ai/templates/{id}/completions',
  operationId: 'callAiTemplate',
  summary: 'Call a prompt template',
  description: `Renders this version with the variables (checked against its schema: 422 naming each wrong one; 422 \`too_costly_to_check\` when checking them would take more than ${MAX_CHECK_STEPS} steps, a step being one schema applied to one value, key, item or property; 422 \`rendering_too_large\` when the messages would pass ${MAX_RENDERED_CHARS} characters) and calls its model through the gateway, with its limits, budgets, cache and guards. With an output schema, the answer is checked, and asked again once with what was wrong; 502 \`invalid_output\` when it never fits.`,
  tags: ['ai'],
  auth: { scopes: ['ai:chat'] },
  timeoutMs: 15 * 60_000,
  request: {
    params: IdParams,
    body: { content: { 'application/json': { schema: TemplateCall } }, required: true },
  },
  responses: {
    200: jsonResponse(TemplateAnswer, 'The answer'),
    ...problemResponses(402, 404, 502),
  },
});

function publicTemplate(template: PromptTemplate) {
  const { temperature, ...rest } = template;
  return { ...rest, temperature: temperature === null ? null : Number(temperature) };
}

/** Versioned prompt templates, and calling them with typed variables. */
export function templateRoutes(deps: Deps) {
  const ai = aiContextOf(deps);
  return createRouter()
    .openapi(createTemplateRoute, async (c) => {
      const body = c.req.valid('json');
      const template = await createTemplateVersion(deps.db, c.get('principal').userId, {
        ...body,
        temperature: body.temperature === null ? null : String(body.temperature),
      });
      c.header('location', `/v1/ai/templates/${template.id}`);
      return sendJson(c, Template, publicTemplate(template), 201);
    })
    .openapi(listTemplatesRoute, async (c) => {
      const templates = await listTemplates(
        deps.db,
        c.get('principal').userId,
        c.req.valid('query').name,
      );
      return sendJson(c, TemplateList, { data: templates.map(publicTemplate) }, 200);
    })
    .openapi(getTemplateRoute, async (c) => {
      const template = await getTemplate(
        deps.db,
        c.get('principal').userId,
        c.req.valid('param').id,
      );
      return sendJson(c, Template, publicTemplate(template), 200);
    })
    .openapi(callTemplateRoute, async (c) => {
      const principal = c.get('principal');
      const template = await getTemplate(deps.db, principal.userId, c.req.valid('param').id);
      const answer = await completeTemplate(
        ai,
        callerOf(principal),
        template,
        c.req.valid('json').variables,
        {
          signal: c.req.raw.signal,
          attempts: 2,
        },
      );
      return sendJson(c, TemplateAnswer, answer, 200);
    });
}
