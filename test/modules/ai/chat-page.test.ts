/**
 * The AI gateway's chat page (`/ai/chat`) in a real headless Chromium, cut off from everything
 * but loopback, against the app on a real port with no upstream: the built-in development
 * model answers. A user pastes an API key, the models are listed, and a conversation streams
 * in piece by piece, shows its usage, can be stopped, and reports errors in plain words;
 * all under a policy that allows this origin alone, without a violation.
 *
 * The development model streams as fast as it can in tests, so the server is wrapped (test
 * only) to pace its events and deliver each in two network writes cut mid-event (mid-character
 * where the event has a non-ASCII one): the page must render partial answers and reassemble
 * events across reads, as it must from a real model behind a real network.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { createApp } from '../../../src/app.ts';
import { listen, type RunningServer } from '../../../src/core/http-server.ts';
import { aiModule } from '../../../src/modules/ai/ai.module.ts';
import { chatPage } from '../../../src/modules/ai/chat-page.ts';
import { createTestApiKey, createTestUser } from '../../support/auth.ts';
import { launchBrowser, noBrowserReason, openCutOffPage } from '../../support/browser.ts';
import { recordCspViolations } from '../../support/csp.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';

const SCREENSHOT = '/tmp/chat-page.png';
/** The page after two whole answers, before the stopped and broken ones. */
const CONVERSATION_SCREENSHOT = '/tmp/chat-page-conversation.png';
// Generous: the whole suite shares the machine with this browser.
const STEP_TIMEOUT = 45_000;
/** Between the two halves of each event, and between events. */
const PACE_MS = 12;
/** A message whose answer the wrapper breaks with an error event after a few chunks. */
const BREAK_MARKER = 'break this answer';
/** The gateway's mid-stream error event, in the contract's shape. */
const ERROR_EVENT =
  'data: {"error":{"message":"The upstream connection was reset","type":"server_error","code":"upstream_error"}}\n\n';

/** What the development model answers to `said`, word for word. */
const answerTo = (said: string) =>
  `This is the development model, not a real one. You said: ${said}`;

interface ChatMessage {
  role: string;
  content: string;
}

interface ChatCall {
  body: { model: string; messages: ChatMessage[]; stream?: boolean; stream_options?: unknown };
  authorization: string | null;
  /** Whether the browser left before the answer ended. */
  cancelled: boolean;
}

let deps: TestDeps;
let server: RunningServer;
let browser: Browser | undefined;
let origin: string;
let apiKey: string;
/** Every `POST /v1/chat/completions` the page made, in order. */
const chatCalls: ChatCall[] = [];

/** The byte to cut an event at: just inside its first multi-byte character, else the middle. */
function cutPoint(bytes: Uint8Array): number {
  const firstNonAscii = bytes.findIndex((byte) => byte >= 0x80);
  return firstNonAscii >= 0 ? firstNonAscii + 1 : Math.floor(bytes.length / 2);
}

/**
 * The gateway's event stream, paced: each event after a pause, in two writes cut mid-event.
 * With `breakAfter`, the answer ends after that many events with the gateway's error event.
 */
function paced(
  source: ReadableStream<Uint8Array>,
  options: { breakAfter?: number; onCancel: () => void },
): ReadableStream<Uint8Array> {
  const reader = source.pipeThrough(new TextDecoderStream()).getReader();
  const encoder = new TextEncoder();
  const pieces: Uint8Array[] = [];
  let buffer = '';
  let events = 0;
  let ending = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (pieces.length === 0) {
        if (ending) {
          controller.close();
          return;
        }
        const end = buffer.indexOf('\n\n');
        if (end === -1) {
          const next = await reader.read();
          if (next.done) {
            controller.close();
            return;
          }
          buffer += next.value;
          continue;
        }
        let event = buffer.slice(0, end + 2);
        buffer = buffer.slice(end + 2);
        events += 1;
        if (options.breakAfter !== undefined && events > options.breakAfter) {
          event = ERROR_EVENT;
          ending = true;
          await reader.cancel();
        }
        const bytes = encoder.encode(event);
        const cut = cutPoint(bytes);
        pieces.push(bytes.subarray(0, cut), bytes.subarray(cut));
      }
      await sleep(PACE_MS);
      const piece = pieces.shift();
      if (piece) controller.enqueue(piece);
    },
    async cancel(reason) {
      options.onCancel();
      await reader.cancel(reason);
    },
  });
}

before(async () => {
  deps = await createTestDeps();
  const { user } = await createTestUser(deps);
  apiKey = (await createTestApiKey(deps, user, ['ai:chat'])).key;
  const app = createApp(deps);
  // Until the manifest lists the page (`pages: chatPage`), the test mounts it as it would.
  if (!('pages' in aiModule)) app.route('/', chatPage(deps));
  const serve = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (request.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
      return app.fetch(request);
    }
    const call: ChatCall = {
      body: (await request.clone().json()) as ChatCall['body'],
      authorization: request.headers.get('authorization'),
      cancelled: false,
    };
    chatCalls.push(call);
    const response = await app.fetch(request);
    if (!response.ok || response.body === null) return response;
    const said = call.body.messages.at(-1)?.content ?? '';
    const stream = paced(response.body, {
      breakAfter: said.includes(BREAK_MARKER) ? 4 : undefined,
      onCancel: () => {
        call.cancelled = true;
      },
    });
    return new Response(stream, response);
  };
  server = await listen({ fetch: serve, host: '127.0.0.1', port: 0 });
  origin = `http://127.0.0.1:${server.port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.drain(1_000);
  await deps?.close();
});

/** Records every distinct text the last answer shows, as it changes (runs in the page). */
const RECORD_ANSWER_TEXTS = `
  window.__answerTexts = [];
  new MutationObserver(() => {
    const answers = document.querySelectorAll('#log .message.assistant .text');
    const text = answers.length > 0 ? answers[answers.length - 1].textContent : '';
    const seen = window.__answerTexts;
    if (text && seen[seen.length - 1] !== text) seen.push(text);
  }).observe(document, { subtree: true, childList: true, characterData: true });
`;

async function answerTexts(page: Page): Promise<string[]> {
  return (await page.evaluate('window.__answerTexts.slice()')) as string[];
}

/** Sends `text` from the message box with Enter, as a user would. */
async function say(page: Page, text: string): Promise<void> {
  await page.evaluate('window.__answerTexts.length = 0');
  await page.getByLabel('Message').fill(text);
  await page.getByLabel('Message').press('Enter');
}

const lastAnswer = (page: Page) => page.locator('#log .message.assistant').last();

/**
 * Until the last answer shows `count` words. Polled from here: a predicate evaluated in the
 * page (`waitForFunction`) is compiled with eval, which the page's policy rightly refuses.
 */
async function waitForWords(page: Page, count: number): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT;
  for (;;) {
    const text = (await lastAnswer(page).locator('.text').textContent()) ?? '';
    if (text.split(' ').length >= count) return;
    if (Date.now() > deadline) throw new Error(`the answer never reached ${count} words: ${text}`);
    await sleep(20);
  }
}

test('/ai/chat is served as three files under a policy that allows this origin alone', async () => {
  const html = await fetch(`${origin}/ai/chat`);
  assert.equal(html.status, 200);
  assert.match(html.headers.get('content-type') ?? '', /^text\/html/);
  const policy = html.headers.get('content-security-policy') ?? '';
  assert.match(policy, /default-src 'none'/);
  assert.match(policy, /script-src 'self';/);
  assert.match(policy, /style-src 'self';/);
  assert.match(policy, /connect-src 'self';/);
  assert.doesNotMatch(policy, /unsafe-|nonce-|sha256-|https?:/, 'nothing inline, nothing else');
  const body = await html.text();
  assert.doesNotMatch(body, /<script>|<style|style=|https?:\/\//, 'no inline code, no URL');

  for (const [path, type] of [
    ['/ai/chat.js', /^text\/javascript/],
    ['/ai/chat.css', /^text\/css/],
  ] as const) {
    const asset = await fetch(`${origin}${path}`);
    assert.equal(asset.status, 200, path);
    assert.match(asset.headers.get('content-type') ?? '', type, path);
    const etag = asset.headers.get('etag') ?? '';
    assert.ok(etag, `${path} has an ETag`);
    const again = await fetch(`${origin}${path}`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304, `${path} is revalidated, not sent again`);
  }
  const script = await (await fetch(`${origin}/ai/chat.js`)).text();
  assert.doesNotMatch(script, /innerHTML|insertAdjacentHTML|outerHTML|document\.write/);
  assert.doesNotMatch(script, /localStorage\.|document\.cookie/);
});

test('a conversation streams in, shows its usage, stops, and reports errors', {
  timeout: 180_000,
}, async (t) => {
  if (!browser) {
    t.skip(noBrowserReason());
    return;
  }
  const { page, blocked, pageErrors } = await openCutOffPage(browser, t);
  page.setDefaultTimeout(STEP_TIMEOUT);
  const violations = await recordCspViolations(page);
  await page.addInitScript({ content: RECORD_ANSWER_TEXTS });
  const failedLocal: string[] = [];
  page.on('response', (response) => {
    if (response.status() >= 400) failedLocal.push(`${response.url()}: ${response.status()}`);
  });

  try {
    await page.goto(`${origin}/ai/chat`, { waitUntil: 'load' });
    await page.getByText('Paste an API key to list the models.').waitFor();
    assert.equal(await page.getByLabel('Model').isDisabled(), true, 'no key, no models');

    // A wrong key: the models cannot be listed, and the page says why.
    await page.getByLabel('API key').fill(`hsk_${'x'.repeat(43)}`);
    await page.getByRole('button', { name: 'Use key' }).click();
    await page
      .getByRole('alert')
      .getByText(/API key was not accepted/)
      .waitFor();

    // The right key: the models are listed, and the key is kept in this tab's session only.
    await page.getByLabel('API key').fill(apiKey);
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.getByText('1 available.').waitFor();
    assert.equal(await page.getByRole('alert').isHidden(), true, 'the error is gone');
    assert.match(
      (await page.getByLabel('Model').locator('option').allTextContents()).join('\n'),
      /^dev-local-echo · 8,192-token window · free$/,
    );
    assert.equal(await page.evaluate(`sessionStorage.getItem('ai-chat.api-key')`), apiKey);
    assert.equal(await page.evaluate('localStorage.length'), 0);
    assert.deepEqual(await page.context().cookies(), []);

    // The first message: the answer streams in, word by word, then shows its usage.
    const first = 'Bonjour, ça va ? Tell me about the café.';
    await say(page, first);
    const usage = lastAnswer(page).locator('.meta');
    await usage.getByText(/^Tokens: /).waitFor();
    const firstAnswer = answerTo(first);
    assert.equal(await lastAnswer(page).locator('.text').textContent(), firstAnswer);
    const texts = await answerTexts(page);
    const partials = texts.filter((text) => text !== firstAnswer);
    assert.ok(partials.length >= 2, `at least two partial texts were shown: ${texts.join(' | ')}`);
    for (const partial of partials) {
      assert.ok(firstAnswer.startsWith(partial), `"${partial}" is a start of the answer`);
    }
    assert.equal(texts.at(-1), firstAnswer, 'the last text shown is the whole answer');
    const [, prompt, completion, total] =
      /^Tokens: (\d+) prompt \+ (\d+) answer = (\d+)$/.exec((await usage.textContent()) ?? '') ??
      [];
    assert.ok(Number(prompt) > 0 && Number(completion) > 0, 'usage counts both sides');
    assert.equal(Number(total), Number(prompt) + Number(completion));
    assert.equal(await page.getByRole('button', { name: 'Stop' }).isDisabled(), true);

    const [firstCall] = chatCalls;
    assert.ok(firstCall);
    assert.equal(firstCall.authorization, `Bearer ${apiKey}`);
    assert.deepEqual(firstCall.body, {
      model: 'dev-local-echo',
      messages: [{ role: 'user', content: first }],
      stream: true,
      stream_options: { include_usage: true },
    });

    // The second: the whole conversation is sent, the answer to the last message comes back.
    const second = 'And a second message.';
    await say(page, second);
    await lastAnswer(page)
      .locator('.meta')
      .getByText(/^Tokens: /)
      .waitFor();
    assert.equal(await lastAnswer(page).locator('.text').textContent(), answerTo(second));
    assert.deepEqual(chatCalls[1]?.body.messages, [
      { role: 'user', content: first },
      { role: 'assistant', content: firstAnswer },
      { role: 'user', content: second },
    ]);

    await page.screenshot({ path: CONVERSATION_SCREENSHOT });

    // A long answer, stopped: the fetch is aborted, the server sees the browser leave, the
    // text shown so far stays and grows no more.
    const long = 'the quick brown fox jumps over the lazy dog '.repeat(25).trim();
    const longAnswer = answerTo(long);
    await say(page, long);
    await waitForWords(page, 20);
    await page.getByRole('button', { name: 'Stop' }).click();
    await lastAnswer(page).locator('.meta').getByText('Stopped.').waitFor();
    const stoppedAt = (await lastAnswer(page).locator('.text').textContent()) ?? '';
    await sleep(500);
    assert.equal(await lastAnswer(page).locator('.text').textContent(), stoppedAt, 'no more text');
    assert.ok(longAnswer.startsWith(stoppedAt), 'what was shown is the start of the answer');
    assert.ok(stoppedAt.length < longAnswer.length, 'stopped before the end');
    assert.equal(chatCalls[2]?.cancelled, true, 'the server saw the browser leave');
    assert.equal(await page.getByRole('button', { name: 'Send' }).isEnabled(), true);
    assert.equal(await page.getByRole('button', { name: 'Stop' }).isDisabled(), true);

    // An answer broken by an error event: the error in plain words, the partial text kept
    // but marked, and the message back in the box to try again.
    const broken = `Please ${BREAK_MARKER}.`;
    await say(page, broken);
    await page
      .getByRole('alert')
      .getByText('The answer broke off with an error: The upstream connection was reset')
      .waitFor();
    assert.equal(
      await lastAnswer(page).locator('.meta').textContent(),
      'Broke off: not part of the conversation.',
    );
    assert.ok(
      answerTo(broken).startsWith((await lastAnswer(page).locator('.text').textContent()) ?? '-'),
    );
    assert.equal(await page.getByLabel('Message').inputValue(), broken);

    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    assert.deepEqual(blocked, [], 'the page tried to reach off this machine');
    assert.deepEqual(failedLocal, [`${origin}/v1/models: 401`], 'only the wrong key was refused');
    assert.deepEqual(pageErrors, [], 'the page threw');
    assert.deepEqual(violations, [], 'the Content-Security-Policy blocked something');
  } catch (error) {
    await page.screenshot({ path: SCREENSHOT, fullPage: true }).catch(() => {});
    console.log({ blocked, failedLocal, pageErrors, violations, screenshot: SCREENSHOT });
    throw error;
  }
});
