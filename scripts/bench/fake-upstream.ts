/**
 * The upstream of the gateway scenarios of `npm run bench`: an OpenAI-compatible chat
 * endpoint that answers at once, so what is measured is the gateway (or the proxy) in
 * front of it. node:http only, no framework, nothing recorded: the tests' fake
 * (test/support/fake-openai.ts) scripts and records every request, which is right for a
 * test and wrong under load.
 *
 * POST /v1/chat/completions answers a fixed completion with usage, or, with `stream: true`,
 * a role chunk, BENCH_UPSTREAM_PIECES content chunks (8), the finish chunk, a usage chunk
 * when `stream_options.include_usage` asks, and `[DONE]`. GET /livez answers 200.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

const PIECES = Number(process.env.BENCH_UPSTREAM_PIECES ?? 8);
const CONTENT = Array.from({ length: PIECES }, (_, index) => `word${index} `);
const USAGE = { prompt_tokens: 12, completion_tokens: PIECES, total_tokens: 12 + PIECES };

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function fail(response: ServerResponse, status: number, message: string) {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(
    JSON.stringify({ error: { message, type: 'invalid_request_error', code: null, param: null } }),
  );
}

async function chat(request: IncomingMessage, response: ServerResponse) {
  let body: { model?: unknown; stream?: unknown; stream_options?: { include_usage?: unknown } };
  try {
    body = JSON.parse(await readBody(request));
  } catch {
    return fail(response, 400, 'The body is not JSON.');
  }
  const model = typeof body.model === 'string' ? body.model : 'unknown';
  const base = { id: 'chatcmpl-bench', created: Math.floor(Date.now() / 1000), model };
  if (body.stream !== true) {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        ...base,
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: CONTENT.join('') },
            finish_reason: 'stop',
            logprobs: null,
          },
        ],
        usage: USAGE,
      }),
    );
    return;
  }
  const chunk = (fields: object) =>
    `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', ...fields })}\n\n`;
  const delta = (value: object, finish: string | null = null) =>
    chunk({ choices: [{ index: 0, delta: value, finish_reason: finish, logprobs: null }] });
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  response.write(delta({ role: 'assistant', content: '' }));
  for (const piece of CONTENT) response.write(delta({ content: piece }));
  response.write(delta({}, 'stop'));
  if (body.stream_options?.include_usage === true) {
    response.write(chunk({ choices: [], usage: USAGE }));
  }
  response.end('data: [DONE]\n\n');
}

const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/livez') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{"status":"ok"}');
    return;
  }
  if (request.method === 'POST' && request.url === '/v1/chat/completions') {
    chat(request, response).catch(() => fail(response, 500, 'The fake failed.'));
    return;
  }
  fail(response, 404, 'Not found.');
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 3002), process.env.HOST ?? '127.0.0.1');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
