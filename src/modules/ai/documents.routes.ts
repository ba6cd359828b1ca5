import type { Deps } from '../../core/deps.ts';
import { IdParams } from '../../core/ids.ts';
import { ProblemError } from '../../core/problem.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, locationHeader, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import { aiContextOf } from './ai-context.ts';
import { indexDocument } from './documents.jobs.ts';
import {
  Collection,
  CollectionCreate,
  CollectionList,
  DocumentList,
  DocumentParams,
  DocumentPublic,
  DocumentUpload,
  SearchRequest,
  SearchResults,
} from './documents.schemas.ts';
import {
  type CollectionRecord,
  createCollection,
  type DocumentRecord,
  deleteCollection,
  deleteDocument,
  documentText,
  findCollection,
  listCollections,
  listDocuments,
  putDocument,
  searchCollection,
  setDocumentJob,
} from './documents.service.ts';
import { callerOf } from './limits.ts';
import { requireVectorStore } from './vector-store.ts';

const TAGS: ['ai'] = ['ai'];
const NEEDS_PGVECTOR =
  ' Needs PostgreSQL’s pgvector extension: without it the answer is 503 `vector_extension_missing`.';

export const createCollectionRoute = defineRoute({
  method: 'post',
  path: '/v1/ai/collections',
  operationId: 'createAiCollection',
  summary: 'Create a collection of documents',
  description:
    'A named set of your documents, searched together and embedded with one model (fixed for its life: vectors of two models do not compare). How documents are cut into chunks is set here too.',
  tags: TAGS,
  auth: { scopes: ['ai:documents'] },
  request: {
    body: { content: { 'application/json': { schema: CollectionCreate } }, required: true },
  },
  responses: {
    201: { ...jsonResponse(Collection, 'The collection'), headers: locationHeader('Its URL') },
    ...problemResponses(404, 409),
  },
});

export const listCollectionsRoute = defineRoute({
  method: 'get',
  path: '/v1/ai/collections',
  operationId: 'listAiCollections',
  summary: 'Your collections',
  description: 'Your collections of documents, newest first.',
  tags: TAGS,
  auth: { scopes: ['ai:documents'] },
  responses: { 200: jsonResponse(CollectionList, 'The collections') },
});

export const getCollectionRoute = defineRoute({
  method: 'get',
  path: '/v1/ai/collections/{id}',
  operationId: 'getAiCollection',
  summary: 'A collection',
  description: 'Its name, model and chunking.',
  tags: TAGS,
  auth: { scopes: ['ai:documents'] },
  request: { params: IdParams },
  responses: { 200: jsonResponse(Collection, 'The collection'), ...problemResponses(404) },
});

export const deleteCollectionRoute = defineRoute({
  method: 'delete',
  path: '/v1/ai/collections/{id}',
  operationId: 'deleteAiCollection',
  summary: 'Delete a collection',
  description: 'With its documents and their chunks.',
  tags: TAGS,
  auth: { scopes: ['ai:documents'] },
  request: { params: IdParams },
  responses: { 204: { description: 'Deleted' }, ...problemResponses(404) },
});

export const uploadDocumentRoute = defineRoute({
  method: 'post',
  path: '/v1/ai/collections/{id}/documents',
  operationId: 'uploadAiDocument',
  summary: 'Add or replace a document (indexed by a job)',
  description: `A text or Markdown file. A worker cuts it into chunks by tokens, with overlap, embeds them and stores their vectors; follow it at the \`Location\` (the job). The same name again replaces the document: its old chunks stay searchable until the new ones are ready.${NEEDS_PGVECTOR}`,
  tags: TAGS,
  auth: { scopes: ['ai:documents'] },
  request: {
    params: IdParams,
    body: {
      content: {
        'multipart/form-data': {
          schema: DocumentUpload,
          encoding: { file: { contentType: 'text/markdown' } },
        },
      },
      required: true,
    },
  },
  responses: {
    202: {
      ...jsonResponse(DocumentPublic, 'The document, queued for indexing'),
      headers: locationHeader('The job that indexes it'),
    },
    ...problemResponses(404),
  },
});

export const listDocumentsRoute = defineRoute({
  method: 'get',
  path: '/v1/ai/collections/{id}/documents',
  operationId: 'listAiDocuments',
  summary: 'A collection’s documents',
  description: 'By name, each with its version, indexing status and number of chunks.',
  tags: TAGS,
  auth: { scopes: ['ai:documents'] },
  request: { params: IdParams },
  responses: { 200: jsonResponse(DocumentList, 'The documents'), ...problemResponses(404) },
});

export const deleteDocumentRoute = defineRoute({
  method: 'delete',
  path: '/v1/ai/collections/{id}/documents/{documentId}',
  operationId: 'deleteAiDocument',
  summary: 'Delete a document',
  description:
    'With its chunks: it is gone from searches at once. A document already gone is no error (204).',
  tags: TAGS,
  auth: { scopes: ['ai:documents'] },
  request: { params: DocumentParams },
  responses: { 204: { description: 'Deleted' }, ...problemResponses(404) },
});

export const searchRoute = defineRoute({
  method: 'post',
  path: '/v1/ai/collections/{id}/search',
  operationId: 'searchAiCollection',
  summary: 'Search a collection',
  description: `The chunks closest to the query (cosine similarity of their embeddings, through an HNSW index), best first. The query is embedded with the collection’s model, billed and limited as any embeddings call.${NEEDS_PGVECTOR}`,
  tags: TAGS,
  auth: { scopes: ['ai:documents'] },
  request: {
    params: IdParams,
    body: { content: { 'application/json': { schema: SearchRequest } }, required: true },
  },
  responses: { 200: jsonResponse(SearchResults, 'The closest chunks'), ...problemResponses(404) },
});

const TEXT_TYPES = new Set(['text/plain', 'text/markdown', 'text/x-markdown']);

/** The upload's type, if it is text: a client may send any file as octet-stream. */
function textTypeOf(file: File): string | undefined {
  const type = file.type.split(';')[0]?.trim().toLowerCase() ?? '';
  if (TEXT_TYPES.has(type)) return type;
  if (type === '' || type === 'application/octet-stream') {
    if (/\.(md|markdown)$/i.test(file.name)) return 'text/markdown';
    if (/\.txt$/i.test(file.name) || !/\.[^.]+$/.test(file.name)) return 'text/plain';
  }
  return undefined;
}

function publicCollection(record: CollectionRecord) {
  const { ownerId: _owner, updatedAt: _updated, ...visible } = record;
  return visible;
}

function publicDocument(record: DocumentRecord) {
  const { userId: _user, apiKeyId: _key, ...visible } = record;
  return visible;
}

/** Collections of documents, their indexing, and search. */
export function documentRoutes(deps: Deps) {
  const ai = aiContextOf(deps);
  return createRouter()
    .openapi(createCollectionRoute, async (c) => {
      const record = await createCollection(
        deps.db,
        ai.catalog,
        c.get('principal').userId,
        c.req.valid('json'),
      );
      c.header('location', `/v1/ai/collections/${record.id}`);
      return sendJson(c, Collection, publicCollection(record), 201);
    })
    .openapi(listCollectionsRoute, async (c) => {
      const records = await listCollections(deps.db, c.get('principal').userId, 100);
      return sendJson(c, CollectionList, { data: records.map(publicCollection) }, 200);
    })
    .openapi(getCollectionRoute, async (c) => {
      const record = await findCollection(
        deps.db,
        c.get('principal').userId,
        c.req.valid('param').id,
      );
      return sendJson(c, Collection, publicCollection(record), 200);
    })
    .openapi(deleteCollectionRoute, async (c) => {
      await deleteCollection(
        deps.db,
        deps.storage,
        c.get('principal').userId,
        c.req.valid('param').id,
      );
      return c.body(null, 204);
    })
    .openapi(uploadDocumentRoute, async (c) => {
      const principal = c.get('principal');
      const collection = await findCollection(deps.db, principal.userId, c.req.valid('param').id);
      await requireVectorStore(deps.db);
      const { file, name } = c.req.valid('form');
      const contentType = textTypeOf(file);
      if (!contentType) {
        throw new ProblemError(415, {
          detail: `Upload text or Markdown (text/plain, text/markdown), not ${file.type || 'an untyped file'}`,
        });
      }
      const text = documentText(new Uint8Array(await file.arrayBuffer()));
      const document = await putDocument(deps, collection, callerOf(principal), {
        name: name ?? file.name.slice(0, 200),
        contentType,
        text,
      });
      const { id: jobId } = await deps.jobs.enqueue(
        indexDocument,
        { documentId: document.id, version: document.version },
        { ownerId: principal.userId, requestId: c.get('requestId') },
      );
      await setDocumentJob(deps.db, document.id, jobId);
      c.header('location', `/v1/jobs/${jobId}`);
      return sendJson(c, DocumentPublic, publicDocument({ ...document, jobId }), 202);
    })
    .openapi(listDocumentsRoute, async (c) => {
      const collection = await findCollection(
        deps.db,
        c.get('principal').userId,
        c.req.valid('param').id,
      );
      const records = await listDocuments(deps.db, collection.id);
      return sendJson(c, DocumentList, { data: records.map(publicDocument) }, 200);
    })
    .openapi(deleteDocumentRoute, async (c) => {
      const { id, documentId } = c.req.valid('param');
      const collection = await findCollection(deps.db, c.get('principal').userId, id);
      await deleteDocument(deps, collection.id, documentId);
      return c.body(null, 204);
    })
    .openapi(searchRoute, async (c) => {
      const principal = c.get('principal');
      const collection = await findCollection(deps.db, principal.userId, c.req.valid('param').id);
      const { query, topK } = c.req.valid('json');
      const found = await searchCollection(ai, callerOf(principal), collection, query, {
        topK,
        signal: c.req.raw.signal,
      });
      return sendJson(
        c,
        SearchResults,
        { data: found.hits, model: collection.model, usage: { promptTokens: found.promptTokens } },
        200,
      );
    });
}
