import { z } from '@hono/zod-openapi';

/**
 * OpenAI's chat completion shapes, as any OpenAI client sends and reads them. Requests are
 * checked for what the gateway relies on and keep every other field (OpenAI adds fields
 * often; the upstream decides what it supports); answers pass through the same way.
 */

const TextPart = z.object({ type: z.literal('text'), text: z.string() }).loose();
const OtherPart = z.object({ type: z.string().min(1).max(50) }).loose();
const ContentPart = z.union([TextPart, OtherPart]);

export const ChatMessage = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: z
      .union([z.string(), z.array(ContentPart).max(100)])
      .nullable()
      .optional(),
    name: z.string().max(64).optional(),
    tool_call_id: z.string().max(200).optional(),
    tool_calls: z.array(z.object({}).loose()).max(128).optional(),
  })
  .loose()
  .openapi('ChatMessage', { example: { role: 'user', content: 'Say hello in French.' } });

export type ChatMessage = z.output<typeof ChatMessage>;

export const ChatCompletionRequest = z
  .object({
    model: z
      .string()
      .regex(/^[\w.:/-]{1,200}$/, 'must be a model id, as GET /v1/models lists them')
      .openapi({ example: 'dev-local-echo' }),
    messages: z.array(ChatMessage).min(1).max(1_000),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    max_tokens: z.number().int().positive().optional(),
    max_completion_tokens: z.number().int().positive().optional(),
    stop: z
      .union([z.string().max(200), z.array(z.string().max(200)).max(4)])
      .nullable()
      .optional(),
    seed: z.number().int().optional(),
    n: z
      .literal(1)
      .optional()
      .openapi({ description: 'One choice per call: a gateway call is one billed answer.' }),
    response_format: z
      .object({ type: z.string().max(50) })
      .loose()
      .optional(),
    tools: z.array(z.object({}).loose()).max(128).optional(),
    tool_choice: z.union([z.string().max(50), z.object({}).loose()]).optional(),
    stream: z.boolean().optional(),
    stream_options: z
      .object({ include_usage: z.boolean().optional() })
      .loose()
      .nullable()
      .optional(),
    user: z.string().max(256).optional(),
    truncation: z.enum(['auto', 'disabled']).optional().openapi({
      description:
        'Over the model’s context window: `disabled` (the default) refuses the call; `auto` drops the oldest turns that are not system messages until it fits.',
    }),
    retrieval: z
      .object({
        collection_id: z.uuid(),
        top_k: z.number().int().min(1).max(20).optional(),
      })
      .strict()
      .optional()
      .openapi({
        description:
          'Grounds the answer in one of your collections (needs the `ai:documents` scope, and pgvector): the chunks closest to the last user message (`top_k`, 4 by default, as many as fit the model’s window) go into the prompt as numbered context, and the answer carries `citations` (document and chunk ids) beside OpenAI’s fields; a stream sends them in a first chunk with no choices.',
      }),
  })
  .loose()
  .openapi('ChatCompletionRequest', {
    example: {
      model: 'dev-local-echo',
      messages: [
        { role: 'system', content: 'You answer in one sentence.' },
        { role: 'user', content: 'What is a keyset cursor?' },
      ],
      temperature: 0,
      stream: false,
    },
  });

export type ChatCompletionRequest = z.output<typeof ChatCompletionRequest>;

export const Usage = z
  .object({
    prompt_tokens: z.number().int(),
    completion_tokens: z.number().int(),
    total_tokens: z.number().int(),
    prompt_tokens_details: z
      .object({ cached_tokens: z.number().int().optional() })
      .loose()
      .optional(),
  })
  .loose()
  .openapi('ChatUsage');

export type Usage = z.output<typeof Usage>;

export const ChatCompletion = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z
        .object({
          index: z.number().int(),
          message: z
            .object({
              role: z.literal('assistant'),
              content: z.string().nullable(),
              tool_calls: z.array(z.object({}).loose()).optional(),
              refusal: z.string().nullable().optional(),
            })
            .loose(),
          finish_reason: z.string().nullable(),
        })
        .loose(),
    ),
    usage: Usage.optional(),
    citations: z
      .array(
        z.object({
          index: z.number().int(),
          document_id: z.uuid(),
          document_name: z.string(),
          chunk_id: z.uuid(),
          chunk_index: z.number().int(),
          score: z.number(),
        }),
      )
      .optional()
      .openapi({
        description:
          'With `retrieval`: the chunks given as context, by the number the prompt gave them.',
      }),
  })
  .loose()
  .openapi('ChatCompletion', {
    example: {
      id: 'chatcmpl-0193a5b07e2f7c3a',
      object: 'chat.completion',
      created: 1764460800,
      model: 'dev-local-echo',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Bonjour !' },
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
    },
  });

export type ChatCompletion = z.output<typeof ChatCompletion>;

/** One server-sent event of a streamed answer (`data: {…}`), before `data: [DONE]`. */
export const ChatCompletionChunk = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion.chunk'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z
        .object({
          index: z.number().int(),
          delta: z
            .object({
              role: z.string().optional(),
              content: z.string().nullable().optional(),
              tool_calls: z.array(z.object({}).loose()).optional(),
            })
            .loose(),
          finish_reason: z.string().nullable().optional(),
        })
        .loose(),
    ),
    usage: Usage.nullable().optional(),
  })
  .loose();

export type ChatCompletionChunk = z.output<typeof ChatCompletionChunk>;

export const ModelEntry = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int(),
    owned_by: z.string(),
    kind: z.enum(['chat', 'embeddings']).openapi({
      description: 'What the model is called for: `/v1/chat/completions` or `/v1/embeddings`.',
    }),
    context_window: z.number().int().openapi({
      description: 'Chat: the prompt and the answer together; embeddings: one input.',
    }),
    max_output_tokens: z.number().int(),
    dimensions: z
      .number()
      .int()
      .optional()
      .openapi({ description: 'Embeddings: the length of the vectors.' }),
    pricing: z
      .object({
        input: z.string(),
        cached_input: z.string(),
        output: z.string(),
        unit: z.literal('USD per 1M tokens'),
      })
      .openapi({ description: 'Exact decimal prices.' }),
  })
  .openapi('Model');

export const ModelList = z
  .object({ object: z.literal('list'), data: z.array(ModelEntry) })
  .openapi('ModelList', {
    example: {
      object: 'list',
      data: [
        {
          id: 'dev-local-echo',
          object: 'model',
          created: 1764460800,
          owned_by: 'gateway',
          kind: 'chat',
          context_window: 8192,
          max_output_tokens: 1024,
          pricing: { input: '0', cached_input: '0', output: '0', unit: 'USD per 1M tokens' },
        },
      ],
    },
  });

/** `from` and `to` (days, UTC) of a usage report. */
export const UsageQuery = z.object({
  from: z.iso
    .date()
    .optional()
    .openapi({
      param: { name: 'from', in: 'query' },
      description: 'First day (UTC), inclusive; 30 days ago when absent.',
      example: '2026-11-01',
    }),
  to: z.iso
    .date()
    .optional()
    .openapi({
      param: { name: 'to', in: 'query' },
      description: 'Last day (UTC), inclusive; today when absent.',
      example: '2026-11-30',
    }),
  userId: z
    .uuid()
    .optional()
    .openapi({
      param: { name: 'userId', in: 'query' },
      description: 'Administrators only: one user’s usage. Absent: everyone’s (admin) or yours.',
    }),
});

export const UsageRow = z
  .object({
    day: z.iso.date(),
    model: z.string(),
    calls: z.number().int(),
    inputTokens: z.number().int(),
    cachedInputTokens: z.number().int(),
    outputTokens: z.number().int(),
    cost: z.string().openapi({ description: 'US dollars, exact.' }),
    estimatedCalls: z
      .number()
      .int()
      .openapi({ description: 'Calls whose tokens the gateway counted (no usage from upstream).' }),
  })
  .openapi('AiUsageRow');

export const UsageReport = z
  .object({ from: z.iso.date(), to: z.iso.date(), data: z.array(UsageRow), totalCost: z.string() })
  .openapi('AiUsageReport', {
    example: {
      from: '2026-11-01',
      to: '2026-11-30',
      data: [
        {
          day: '2026-11-30',
          model: 'dev-local-echo',
          calls: 3,
          inputTokens: 120,
          cachedInputTokens: 0,
          outputTokens: 45,
          cost: '0.000000000000',
          estimatedCalls: 0,
        },
      ],
      totalCost: '0.000000000000',
    },
  });

export const BudgetCreate = z
  .object({
    subject: z.enum(['user', 'api_key']).openapi({ description: 'Whose spend it limits.' }),
    subjectId: z.uuid().openapi({ description: 'The user’s or the API key’s id.' }),
    period: z.enum(['day', 'month']).openapi({ description: 'A calendar day or month, UTC.' }),
    limitUsd: z
      .string()
      .regex(/^\d{1,8}(\.\d{1,6})?$/, 'must be a decimal string of dollars, e.g. "25.00"'),
  })
  .strict()
  .openapi('AiBudgetCreate', {
    example: {
      subject: 'api_key',
      subjectId: '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e',
      period: 'month',
      limitUsd: '25.00',
    },
  });

export const BudgetUpdate = BudgetCreate.pick({ period: true, limitUsd: true })
  .partial()
  .strict()
  .openapi('AiBudgetUpdate', { example: { limitUsd: '50.00' } });

const exampleBudget = {
  id: '0193a5b0-7e30-7c3a-9d4e-5f6a7b8c9d0f',
  subject: 'api_key' as const,
  subjectId: '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e',
  period: 'month' as const,
  limitUsd: '25.000000',
  spentUsd: '3.141592000000',
  periodEndsAt: new Date('2026-12-01T00:00:00Z'),
};

export const Budget = z
  .object({
    id: z.uuid(),
    subject: z.enum(['user', 'api_key']),
    subjectId: z.uuid(),
    period: z.enum(['day', 'month']),
    limitUsd: z.string(),
    spentUsd: z.string().openapi({ description: 'Spent in the current period, exact.' }),
    periodEndsAt: z.date(),
  })
  .openapi('AiBudget', { example: exampleBudget });

export const BudgetList = z
  .object({ data: z.array(Budget) })
  .openapi('AiBudgetList', { example: { data: [exampleBudget] } });

/** The most a template's JSON Schema may take as JSON, in bytes (template-schemas.ts). */
export const TEMPLATE_SCHEMA_MAX_BYTES = 65_536;
/** How deep a template's JSON Schema may nest objects and arrays (template-schemas.ts). */
export const TEMPLATE_SCHEMA_MAX_DEPTH = 32;

/** A JSON Schema, as a template declares one (an object). */
const JsonSchema = z.record(z.string(), z.unknown()).openapi({
  description: `A JSON Schema (draft 2020-12), as an object: at most ${TEMPLATE_SCHEMA_MAX_BYTES} bytes as JSON, nesting objects and arrays at most ${TEMPLATE_SCHEMA_MAX_DEPTH} levels deep. Refused when saved (422): \`pattern\`, \`patternProperties\` and \`propertyNames\` (their regular expressions would run on the server); two schemas that check the same value (the branches of \`anyOf\`, \`oneOf\` and \`allOf\`, the rest of the schema beside them, \`contains\` beside \`items\`) leading to the same \`$ref\` definition, directly or through other \`$ref\`s; and a \`$ref\` that comes back to itself without going into a property or an item.`,
});

const TemplateMessage = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z
    .string()
    .min(1)
    .max(20_000)
    .openapi({ description: 'Text with `{{variable}}` placeholders.' }),
});

const exampleTemplate = {
  name: 'summary',
  model: 'dev-local-echo',
  messages: [
    { role: 'system' as const, content: 'You summarise text for busy people.' },
    { role: 'user' as const, content: 'Summarise in {{words}} words: {{text}}' },
  ],
  variables: {
    type: 'object',
    properties: {
      text: { type: 'string', maxLength: 20000 },
      words: { type: 'integer', minimum: 5 },
    },
    required: ['text', 'words'],
  },
  outputSchema: null,
  temperature: 0,
  maxTokens: 200,
  truncation: 'disabled' as const,
};

export const TemplateCreate = z
  .object({
    name: z.string().regex(/^[\w.-]{1,100}$/, 'must be letters, digits, `_`, `.` or `-`'),
    model: ChatCompletionRequest.shape.model,
    messages: z.array(TemplateMessage).min(1).max(50),
    variables: JsonSchema.default({ type: 'object', properties: {} }),
    outputSchema: JsonSchema.nullable().default(null).openapi({
      description:
        'When set, the answer must be JSON fitting it: asked as `json_schema`, checked, and asked again once if it does not fit. Limited as `variables` is.',
    }),
    temperature: z.number().min(0).max(2).nullable().default(null),
    maxTokens: z.number().int().positive().nullable().default(null),
    truncation: z.enum(['auto', 'disabled']).default('disabled'),
  })
  .strict()
  .openapi('AiTemplateCreate', { example: exampleTemplate });

export const Template = z
  .object({
    id: z.uuid(),
    name: z.string(),
    version: z.number().int(),
    model: z.string(),
    messages: z.array(TemplateMessage),
    variables: JsonSchema,
    outputSchema: JsonSchema.nullable(),
    temperature: z.number().nullable(),
    maxTokens: z.number().int().nullable(),
    truncation: z.enum(['auto', 'disabled']),
    createdAt: z.date(),
  })
  .openapi('AiTemplate', {
    example: {
      id: '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e',
      version: 1,
      createdAt: new Date('2026-11-30T12:00:00Z'),
      ...exampleTemplate,
    },
  });

export const TemplateList = z.object({ data: z.array(Template) }).openapi('AiTemplateList', {
  example: {
    data: [
      {
        id: '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e',
        version: 2,
        createdAt: new Date('2026-11-30T12:00:00Z'),
        ...exampleTemplate,
      },
    ],
  },
});

export const TemplateListQuery = z.object({
  name: z
    .string()
    .regex(/^[\w.-]{1,100}$/)
    .optional()
    .openapi({
      param: { name: 'name', in: 'query' },
      description: 'Every version of this template, newest first. Absent: the latest of each.',
    }),
});

export const TemplateCall = z
  .object({ variables: z.record(z.string(), z.unknown()).default({}) })
  .strict()
  .openapi('AiTemplateCall', {
    example: { variables: { text: 'Keyset pagination pages by position, not offset.', words: 10 } },
  });

export const TemplateAnswer = z
  .object({
    output: z.unknown().openapi({
      description: 'The answer: its JSON (checked against the output schema) or its text.',
    }),
    attempts: z.number().int().openapi({ description: 'Tries it took to fit the output schema.' }),
    completion: ChatCompletion,
  })
  .openapi('AiTemplateAnswer', {
    example: {
      output: 'Pages by position, so they stay exact as rows change.',
      attempts: 1,
      completion: {
        id: 'chatcmpl-0193a5b07e2f7c3a',
        object: 'chat.completion',
        created: 1764460800,
        model: 'dev-local-echo',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: 'Pages by position, so they stay exact as rows change.',
            },
            finish_reason: 'stop',
          },
        ],
        usage: { prompt_tokens: 30, completion_tokens: 11, total_tokens: 41 },
      },
    },
  });
