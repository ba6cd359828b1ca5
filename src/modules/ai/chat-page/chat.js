// The AI gateway's chat page: plain DOM, no framework, nothing loaded from elsewhere.
//
// It calls this service's OpenAI-compatible API with an API key the user pastes. The key
// stays in sessionStorage (this tab, until it closes): never in a URL, a cookie or
// localStorage, and it goes only to this origin (the page's policy is `connect-src 'self'`).
// Everything the model or the server says is put in the page with `textContent`, never as
// HTML. It is a module script: strict, deferred, and nothing it declares is a global.

const KEY_STORAGE = 'ai-chat.api-key';
const MODEL_STORAGE = 'ai-chat.model';

const byId = (id) => document.getElementById(id);
const ui = {
  keyForm: byId('key-form'),
  key: byId('api-key'),
  forget: byId('forget-key'),
  model: byId('model'),
  modelStatus: byId('model-status'),
  log: byId('log'),
  empty: byId('empty'),
  error: byId('error'),
  composer: byId('composer'),
  message: byId('message'),
  send: byId('send'),
  stop: byId('stop'),
  newChat: byId('new-chat'),
};

/** The conversation as the model is sent it: every turn so far, `{ role, content }`. */
let history = [];
/** The AbortController of the answer being streamed; undefined when none is. */
let running;
/** Bumped on every key change, so a slow model list for an old key is dropped. */
let modelsGeneration = 0;

/** An error to show as it is: its message is already in plain words. */
class PlainError extends Error {}

// ---- The key and the models ----------------------------------------------------------

function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE) ?? '';
}

function authHeaders(key) {
  // As OpenAI's clients send a key; the service takes its own API keys this way.
  return { authorization: `Bearer ${key}` };
}

function describeModel(model) {
  const parts = [model.id];
  if (Number.isFinite(model.context_window)) {
    parts.push(`${model.context_window.toLocaleString('en')}-token window`);
  }
  const pricing = model.pricing;
  if (pricing) {
    parts.push(
      Number(pricing.input) === 0 && Number(pricing.output) === 0
        ? 'free'
        : `$${pricing.input} in / $${pricing.output} out per 1M tokens`,
    );
  }
  return parts.join(' · ');
}

async function loadModels() {
  const generation = ++modelsGeneration;
  const key = storedKey();
  ui.model.replaceChildren();
  ui.model.disabled = true;
  if (!key) {
    ui.modelStatus.textContent = 'Paste an API key to list the models.';
    return;
  }
  ui.modelStatus.textContent = 'Loading the models…';
  try {
    const response = await fetch('/v1/models', { headers: authHeaders(key) });
    if (!response.ok) throw new PlainError(await problemText(response));
    const list = await response.json();
    if (generation !== modelsGeneration) return;
    // Embeddings models cannot chat.
    const models = (Array.isArray(list?.data) ? list.data : []).filter(
      (model) => (model?.kind ?? 'chat') === 'chat',
    );
    for (const model of models) {
      const option = document.createElement('option');
      option.value = String(model.id);
      option.textContent = describeModel(model);
      ui.model.append(option);
    }
    const remembered = sessionStorage.getItem(MODEL_STORAGE);
    if (remembered && models.some((model) => model.id === remembered)) {
      ui.model.value = remembered;
    }
    ui.model.disabled = models.length === 0;
    ui.modelStatus.textContent =
      models.length === 0 ? 'This service offers no model.' : `${models.length} available.`;
    clearError();
  } catch (error) {
    if (generation !== modelsGeneration) return;
    ui.modelStatus.textContent = 'No models listed.';
    showError(`Could not list the models. ${plainMessage(error)}`);
  }
}

ui.keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = ui.key.value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  void loadModels(); // It reports its own errors on the page.
});

ui.forget.addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  ui.key.value = '';
  clearError();
  void loadModels();
});

ui.model.addEventListener('change', () => sessionStorage.setItem(MODEL_STORAGE, ui.model.value));

// ---- Errors in plain words -----------------------------------------------------------

/** What each status means to someone chatting; the server's own detail follows it. */
const STATUS_WORDS = {
  400: 'The request was refused.',
  401: 'The API key was not accepted: it is wrong, expired or revoked.',
  402: 'The spend budget is used up.',
  403: 'This API key may not chat: it needs the ai:chat scope.',
  404: 'Not found.',
  413: 'The conversation is too large to send.',
  422: 'The request was not valid.',
  429: 'Too many requests for now.',
  502: 'The model could not answer.',
  503: 'The service cannot answer right now.',
  504: 'The model took too long to answer.',
};

/**
 * A refused request in plain words, from its problem document (`detail`, else OpenAI's
 * `error.message`, else `title`), or from the status alone when the body is not JSON.
 */
async function problemText(response) {
  let detail = '';
  try {
    const problem = await response.json();
    detail = String(problem?.detail ?? problem?.error?.message ?? problem?.title ?? '');
  } catch {
    // Not JSON (a proxy's error page): the status has to do.
  }
  const words = STATUS_WORDS[response.status] ?? `The server answered ${response.status}.`;
  const retryAfter = response.headers.get('retry-after');
  const wait = retryAfter && /^\d+$/.test(retryAfter) ? ` Try again in ${retryAfter} s.` : '';
  return [words, detail, wait].filter(Boolean).join(' ').replace(/\s+/g, ' ').trim();
}

function plainMessage(error) {
  if (error instanceof PlainError) return error.message;
  // fetch rejects with a TypeError when the server cannot be reached at all.
  if (error instanceof TypeError) return 'The service could not be reached.';
  return `Something went wrong: ${error?.message ?? error}`;
}

function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = false;
}

function clearError() {
  ui.error.textContent = '';
  ui.error.hidden = true;
}

// ---- The conversation ----------------------------------------------------------------

/** Appends a message to the log; returns its parts, to fill as the answer arrives. */
function addMessage(role, who, text) {
  ui.empty.hidden = true;
  const root = document.createElement('article');
  root.className = `message ${role}`;
  const label = document.createElement('div');
  label.className = 'who';
  label.textContent = who;
  const body = document.createElement('div');
  body.className = 'text';
  body.textContent = text;
  const meta = document.createElement('div');
  meta.className = 'meta';
  root.append(label, body, meta);
  ui.log.append(root);
  scrollToEnd(true);
  return { root, body, meta };
}

function isNearBottom() {
  const log = ui.log;
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

/** Follows the answer down, unless the reader has scrolled up to read something else. */
function scrollToEnd(force) {
  if (force || isNearBottom()) ui.log.scrollTop = ui.log.scrollHeight;
}

/**
 * Runs `change` (which may grow a message or shrink the log, as the error line does) and
 * keeps the end of the log in view if it was before.
 */
function keepingEndInView(change) {
  const follow = isNearBottom();
  change();
  if (follow) ui.log.scrollTop = ui.log.scrollHeight;
}

function setRunning(controller) {
  running = controller;
  const busy = controller !== undefined;
  ui.send.disabled = busy;
  ui.stop.disabled = !busy;
  ui.newChat.disabled = busy;
  ui.model.disabled = busy || ui.model.options.length === 0;
}

function usageText(usage) {
  const { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total } = usage;
  return `Tokens: ${prompt} prompt + ${completion} answer = ${total}`;
}

const FINISH_NOTES = {
  length: 'Cut at the output limit.',
  content_filter: 'Stopped by the content filter.',
};

async function send() {
  if (running) return;
  const text = ui.message.value.trim();
  if (!text) return;
  const key = storedKey();
  if (!key) {
    showError('Paste an API key first (and press “Use key”): every message is sent with it.');
    ui.key.focus();
    return;
  }
  const model = ui.model.value;
  if (!model) {
    showError('Choose a model first: the list loads once the key is accepted.');
    return;
  }
  clearError();

  history.push({ role: 'user', content: text });
  const question = addMessage('user', 'You', text);
  ui.message.value = '';
  const answer = addMessage('assistant', model, '');
  answer.root.setAttribute('aria-busy', 'true');
  const controller = new AbortController();
  setRunning(controller);

  let content = '';
  try {
    const response = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: {
        ...authHeaders(key),
        'content-type': 'application/json',
        accept: 'text/event-stream',
      },
      // The whole conversation each time: the model remembers nothing between calls.
      body: JSON.stringify({
        model,
        messages: history,
        stream: true,
        stream_options: { include_usage: true },
      }),
      signal: controller.signal,
    });
    if (!response.ok) throw new PlainError(await problemText(response));
    if (!response.body) throw new PlainError('The server sent no answer.');
    const outcome = await readAnswer(response.body, (piece) => {
      content += piece;
      answer.body.textContent = content;
      scrollToEnd(false);
    });
    history.push({ role: 'assistant', content });
    const notes = [];
    if (outcome.usage) notes.push(usageText(outcome.usage));
    if (FINISH_NOTES[outcome.finishReason]) notes.push(FINISH_NOTES[outcome.finishReason]);
    keepingEndInView(() => {
      answer.meta.textContent = notes.join(' · ');
    });
  } catch (error) {
    keepingEndInView(() => failed(error));
  } finally {
    answer.root.removeAttribute('aria-busy');
    setRunning(undefined);
    ui.message.focus();
  }

  /** Ends an answer that did not come back whole: stopped, refused, or broken off. */
  function failed(error) {
    const stopped = controller.signal.aborted;
    if (stopped && content) {
      // What was shown stays part of the conversation, as the reader saw it.
      history.push({ role: 'assistant', content });
      answer.meta.textContent = 'Stopped.';
    } else {
      // Nothing usable came back: the question leaves the conversation, and goes back to
      // the box to send again.
      history = history.slice(0, -1);
      question.meta.textContent = 'Not part of the conversation: no complete answer came back.';
      question.root.classList.add('failed');
      if (!ui.message.value) ui.message.value = text;
      if (!content) answer.root.remove();
      else answer.meta.textContent = 'Broke off: not part of the conversation.';
      if (!stopped) showError(plainMessage(error));
    }
    answer.root.classList.add('partial');
  }
}

// ---- Server-sent events ---------------------------------------------------------------

/**
 * Reads an OpenAI chat stream: `data: {chunk}` events separated by blank lines, until
 * `data: [DONE]`. A network read may end anywhere, mid-event or mid-character, so text is
 * decoded as a stream and events are taken only once their blank line has arrived; the rest
 * waits for the next read. Calls `onText` with each piece of the answer; resolves to the
 * finish reason and the usage of the last chunk. Throws a PlainError for an error event or
 * a stream that ends before `[DONE]`.
 */
async function readAnswer(body, onText) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const outcome = { finishReason: undefined, usage: undefined };
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      // Servers end lines with \n or \r\n (a lone \r, legal in SSE, is sent by none of them).
      const events = buffer.split(/\r?\n\r?\n/);
      buffer = events.pop() ?? '';
      for (const event of events) {
        if (handleEvent(event, outcome, onText)) return outcome;
      }
    }
  } finally {
    reader.releaseLock();
  }
  throw new PlainError('The answer was cut off: the connection closed before it ended.');
}

/** One event; true once it is `[DONE]`. */
function handleEvent(event, outcome, onText) {
  // An event's data is its `data:` lines joined; other fields and `:` comments are ignored.
  const data = event
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5))
    .join('\n');
  if (data === '') return false;
  if (data === '[DONE]') return true;
  let chunk;
  try {
    chunk = JSON.parse(data);
  } catch {
    throw new PlainError('The answer could not be read: the server sent something else.');
  }
  if (chunk?.error) {
    const reason = chunk.error.message ? String(chunk.error.message) : 'no reason given';
    throw new PlainError(`The answer broke off with an error: ${reason}`);
  }
  const choice = Array.isArray(chunk?.choices) ? chunk.choices[0] : undefined;
  const piece = choice?.delta?.content;
  if (typeof piece === 'string' && piece !== '') onText(piece);
  if (choice?.finish_reason) outcome.finishReason = choice.finish_reason;
  // The last chunk, with `choices: []`, carries the usage of the whole call.
  if (chunk?.usage) outcome.usage = chunk.usage;
  return false;
}

// ---- Wiring ---------------------------------------------------------------------------

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  void send(); // It reports its own errors on the page.
});

ui.message.addEventListener('keydown', (event) => {
  // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition is neither.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
});

ui.stop.addEventListener('click', () => running?.abort());

ui.newChat.addEventListener('click', () => {
  history = [];
  for (const message of ui.log.querySelectorAll('.message')) message.remove();
  ui.empty.hidden = false;
  clearError();
  ui.message.focus();
});

ui.key.value = storedKey();
setRunning(undefined);
void loadModels();
