import { z } from '@hono/zod-openapi';

const COLLECTION_ID = '0193a5b0-7e30-7c3a-9d4e-5f6a7b8c9d0f';
const DOCUMENT_ID = '0193a5b0-7e31-7c3a-9d4e-5f6a7b8c9d10';

export const CollectionCreate = z
  .object({
    name: z.string().min(1).max(100).openapi({ description: 'Unique among your collections.' }),
    description: z.string().max(2_000).nullable().default(null),
    model: z
      .string()
      .regex(/^[\w.:/-]{1,200}$/)
      .optional()
      .openapi({
        description:
          'The embeddings model for its documents and for questions to it; the model table’s first embeddings model when absent.',
      }),
    chunkTokens: z.number().int().min(32).max(2_000).default(300).openapi({
      description: 'Tokens a chunk holds at most; at least twice `chunkOverlap`.',
    }),
    chunkOverlap: z.number().int().min(0).max(500).default(40).openapi({
      description:
        'Tokens a chunk shares with the one before it: at most half of `chunkTokens`, so each chunk moves on by at least half a chunk.',
    }),
  })
  .strict()
  // A larger overlap makes more chunks for the same text, each embedded and stored: at
  // chunkTokens - 1, one for every token of the document.
  .refine((value) => value.chunkOverlap * 2 <= value.chunkTokens, {
    message:
      'must be at most half of chunkTokens: each chunk moves on by chunkTokens - chunkOverlap',
    path: ['chunkOverlap'],
  })
  .openapi('AiCollectionCreate', {
    example: {
      name: 'Handbook',
      description: 'Company policies',
      chunkTokens: 300,
      chunkOverlap: 40,
    },
  });

const exampleCollection = {
  id: COLLECTION_ID,
  name: 'Handbook',
  description: 'Company policies',
  model: 'dev-local-embed',
  dimensions: 1536,
  chunkTokens: 300,
  chunkOverlap: 40,
  createdAt: new Date('2026-11-30T12:00:00Z'),
};

export const Collection = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string().nullable(),
    model: z.string(),
    dimensions: z.number().int(),
    chunkTokens: z.number().int(),
    chunkOverlap: z.number().int(),
    createdAt: z.date(),
  })
  .openapi('AiCollection', { example: exampleCollection });

export const CollectionList = z
  .object({ data: z.array(Collection) })
  .openapi('AiCollectionList', { example: { data: [exampleCollection] } });

export const DocumentUpload = z
  .object({
    file: z
      .instanceof(File, {
        error: (issue) =>
          issue.input === undefined
            ? 'no file in the multipart field `file`: send the text as multipart/form-data (`curl -F file=@handbook.md`)'
            : 'must be a file upload, not text',
      })
      .openapi({
        type: 'string',
        format: 'binary',
        description: 'Text or Markdown, UTF-8.',
      }),
    name: z
      .string()
      .regex(/^[\w .-]{1,200}$/)
      .optional()
      .openapi({
        description:
          'Its name in the collection; the file’s name when absent. Uploading a name again replaces that document.',
      }),
  })
  .openapi('AiDocumentUpload', {
    example: {
      file: '# Refunds\n\nThe refund window is 30 days from delivery.\n',
      name: 'refunds.md',
    },
  });

const exampleDocument = {
  id: DOCUMENT_ID,
  collectionId: COLLECTION_ID,
  name: 'refunds.md',
  contentType: 'text/markdown',
  byteSize: 58,
  version: 1,
  status: 'ready' as const,
  chunkCount: 1,
  jobId: '0193a5b0-7e32-7c3a-9d4e-5f6a7b8c9d11',
  error: null,
  indexedAt: new Date('2026-11-30T12:00:02Z'),
  createdAt: new Date('2026-11-30T12:00:00Z'),
  updatedAt: new Date('2026-11-30T12:00:02Z'),
};

export const DocumentPublic = z
  .object({
    id: z.uuid(),
    collectionId: z.uuid(),
    name: z.string(),
    contentType: z.string(),
    byteSize: z.number().int(),
    version: z.number().int(),
    status: z.enum(['pending', 'indexing', 'ready', 'failed']).openapi({
      description:
        '`ready` once its chunks are searchable; a new version replaces the old one’s chunks only when it is ready.',
    }),
    chunkCount: z.number().int(),
    jobId: z.string().nullable().openapi({
      description: 'The job indexing it: progress at `/v1/jobs/{jobId}/events`.',
    }),
    error: z.string().nullable(),
    indexedAt: z.date().nullable(),
    createdAt: z.date(),
    updatedAt: z.date(),
  })
  .openapi('AiDocument', { example: exampleDocument });

export const DocumentList = z
  .object({ data: z.array(DocumentPublic) })
  .openapi('AiDocumentList', { example: { data: [exampleDocument] } });

export const DocumentParams = z.object({
  id: z.uuid().openapi({ param: { name: 'id', in: 'path' }, example: COLLECTION_ID }),
  documentId: z.uuid().openapi({ param: { name: 'documentId', in: 'path' }, example: DOCUMENT_ID }),
});

export const SearchRequest = z
  .object({
    query: z.string().min(1).max(10_000),
    topK: z.number().int().min(1).max(50).default(5),
  })
  .strict()
  .openapi('AiSearchRequest', { example: { query: 'How long is the refund window?', topK: 3 } });

export const SearchResults = z
  .object({
    data: z.array(
      z.object({
        chunkId: z.uuid(),
        documentId: z.uuid(),
        documentName: z.string(),
        seq: z.number().int().openapi({ description: 'The chunk’s place in its document.' }),
        score: z.number().openapi({ description: 'Cosine similarity, 1 at best.' }),
        text: z.string(),
      }),
    ),
    model: z.string(),
    usage: z.object({ promptTokens: z.number().int() }),
  })
  .openapi('AiSearchResults', {
    example: {
      data: [
        {
          chunkId: '0193a5b0-7e33-7c3a-9d4e-5f6a7b8c9d12',
          documentId: DOCUMENT_ID,
          documentName: 'refunds.md',
          seq: 0,
          score: 0.62,
          text: '# Refunds\n\nThe refund window is 30 days from delivery.',
        },
      ],
      model: 'dev-local-embed',
      usage: { promptTokens: 8 },
    },
  });
