import { type Bindings, type DestinationStream, type Logger, pino } from 'pino';
import type { Settings } from './settings.ts';

export type { Logger };

/**
 * Paths pino blanks out in a log record, so a secret passed to the logger by mistake never
 * reaches the output. Explicit paths only: wildcards make pino check every line slowly.
 */
export const REDACTED_PATHS = [
  'password',
  'currentPassword',
  'newPassword',
  'token',
  'access_token',
  'refresh_token',
  'apiKey',
  'key',
  'secret',
  'authorization',
  'cookie',
  'body.password',
  'body.currentPassword',
  'body.refresh_token',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
];

interface SafeError {
  type: string;
  message: string;
  stack?: string;
  code?: string;
  cause?: SafeError;
}

/** drizzle puts the statement's parameters (hashes, emails, tokens) in its error message. */
const withoutParams = (text: string) => text.replace(/\nparams: [^\n]*/g, '\nparams: [redacted]');

/**
 * Errors are logged with their type, message, stack, code and cause only: other properties
 * an error carries (a request body, a config with credentials) never reach the log.
 */
export function serializeError(error: unknown, depth = 0): SafeError | string {
  if (!(error instanceof Error)) return String(error);
  const code = 'code' in error ? error.code : undefined;
  const safe: SafeError = { type: error.name, message: withoutParams(error.message) };
  if (error.stack) safe.stack = withoutParams(error.stack);
  if (typeof code === 'string' || typeof code === 'number') safe.code = String(code);
  if (error.cause !== undefined && depth < 3) {
    const cause = serializeError(error.cause, depth + 1);
    if (typeof cause !== 'string') safe.cause = cause;
  }
  return safe;
}

export interface LoggerOptions {
  level: Settings['LOG_LEVEL'];
  format: Settings['LOG_FORMAT'];
  /** Where lines go; standard output unless a test captures them. */
  destination?: NodeJS.WritableStream;
  /** Fields added to every line, e.g. the active trace's ids. */
  mixin?: () => object;
}

/**
 * Whether text written to `stream` should carry colour codes: only on a terminal, unless the
 * environment says otherwise. `FORCE_COLOR` (set, and not `0` or `false`) wins over
 * `NO_COLOR` (set and not empty), as in Node itself; `TERM=dumb` means no colour.
 */
export function colourWanted(
  stream: { isTTY?: boolean },
  env: Record<string, string | undefined>,
): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if (env.NO_COLOR) return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/**
 * Creates the process logger: JSON lines, or readable lines in development when
 * `pino-pretty` (a development dependency) is installed, coloured on a terminal only.
 */
export async function createLogger(options: LoggerOptions): Promise<Logger> {
  const config = {
    level: options.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    base: { pid: process.pid },
    ...(options.mixin ? { mixin: options.mixin } : {}),
  };
  let destination: DestinationStream | undefined = options.destination;
  if (options.format === 'pretty' && !destination) {
    const pretty = await loadPretty();
    if (pretty) {
      // pino-pretty writes to standard output; a log file must not fill with escape codes.
      const colorize = colourWanted(process.stdout, process.env);
      destination = pretty({ colorize, sync: true, singleLine: true });
    }
  }
  destination ??= standardOutput();
  const logger = pino(config, destination);
  lineSinks.set(logger, { destination, mixin: options.mixin });
  return logger;
}

type SonicBoom = ReturnType<typeof pino.destination>;

/** How long a line may wait for others to share its write (decision 048). */
const GATHER_MS = 5;
/** Lines past this many characters are handed over at once, whatever the time. */
const GATHER_MAX = 64 * 1024;

/**
 * Standard output, with the lines of a few milliseconds handed over in one write. Each write
 * of pino's asynchronous stream is a system call made on libuv's thread pool, whose hand-off
 * and completion cost more than the bytes: about 10 µs of CPU a line, which made the access
 * line the largest single cost of a request (decision 044). One write per turn of the event
 * loop still cost `/livez` 5 µs a request; one per 5 ms costs it half that. A line waits at
 * most 5 ms; what is left at exit is written synchronously. A `kill -9` loses the lines of
 * those last milliseconds, as the asynchronous stream could already lose the lines it held.
 */
class GatheredLines implements DestinationStream {
  /** The lines waiting: while it holds any, a hand-over is scheduled. */
  #pending = '';
  readonly #sink: SonicBoom;

  constructor(sink: SonicBoom) {
    this.#sink = sink;
    process.once('exit', () => {
      try {
        this.flushSync();
      } catch {
        // Standard output is gone or stuck; nothing is left to tell.
      }
    });
  }

  write(line: string): void {
    // Not unreferenced: a process about to end waits the few milliseconds, so its last lines
    // go out through the stream before pino ends it (on `beforeExit`).
    if (this.#pending === '') setTimeout(this.#handOver, GATHER_MS);
    this.#pending += line;
    if (this.#pending.length >= GATHER_MAX) this.#handOver();
  }

  #handOver = (): void => {
    if (this.#pending === '') return;
    const lines = this.#pending;
    this.#pending = '';
    this.#sink.write(lines);
  };

  /** pino's `logger.flush()`. */
  flush(callback?: (error?: Error) => void): void {
    this.#handOver();
    this.#sink.flush(callback);
  }

  flushSync(): void {
    this.#handOver();
    this.#sink.flushSync();
  }
}

let stdout: GatheredLines | undefined;

/** One stream for every logger of the process, so their lines keep their order. */
function standardOutput(): GatheredLines {
  stdout ??= new GatheredLines(pino.destination({ sync: false }));
  return stdout;
}

/** Where `createLogger` sends each logger's lines, and what it adds to each. */
const lineSinks = new WeakMap<
  Logger,
  { destination: DestinationStream; mixin: (() => object) | undefined }
>();

/** A line of fields that are all known and safe: nothing to redact, no error to serialise. */
export type PlainFields = Record<string, string | number | boolean | undefined>;

/**
 * Writes lines of plain fields as `logger` would, in the same JSON shape (level, time, pid,
 * the mixin's fields, then these, then msg) to the same destination, at a quarter of pino's
 * cost per line (its general path checks every value for serialisers, redaction and
 * escaping). For the lines written on every request (the access line); anything else goes
 * through the logger. A logger `createLogger` did not make gets its own methods.
 */
export function plainLineWriter(
  logger: Logger,
): (level: 'info' | 'error', fields: PlainFields, msg: string) => void {
  const sink = lineSinks.get(logger);
  if (!sink) return (level, fields, msg) => logger[level](fields, msg);
  const { destination, mixin } = sink;
  const head = { info: '{"level":30,"time":', error: '{"level":50,"time":' };
  const pid = `,"pid":${process.pid},`;
  return (level, fields, msg) => {
    if (!logger.isLevelEnabled(level)) return;
    // `msg` written after the fields: no copy of them to add it to, without a mixin.
    const body = JSON.stringify(mixin ? { ...mixin(), ...fields } : fields);
    const members = body.length > 2 ? `${body.slice(1, -1)},` : '';
    destination.write(`${head[level]}${Date.now()}${pid}${members}"msg":${JSON.stringify(msg)}}\n`);
  };
}

/**
 * `logger.child(bindings)`, made when it is first used: a request's logger is bound to its id,
 * but most requests log nothing beyond their access line (written apart, above), and pino's
 * `child` serialises its bindings and sets up its level at once, 0.4 µs a request for a logger
 * never used (decision 092). What reaches the proxy reaches the child, `this` and writes
 * included, so a level set on it stays on it and its own children inherit from it.
 */
export function childWhenUsed(logger: Logger, bindings: Bindings): Logger {
  return new ChildWhenUsed(logger, bindings).proxy;
}

/** The proxy's handler: its traps on the prototype, so a request allocates no closures. */
class ChildWhenUsed implements ProxyHandler<Logger> {
  readonly proxy: Logger;
  #child: Logger | undefined;
  readonly #parent: Logger;
  readonly #bindings: Bindings;

  constructor(parent: Logger, bindings: Bindings) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.proxy = new Proxy(parent, this);
  }

  #made(): Logger {
    this.#child ??= this.#parent.child(this.#bindings);
    return this.#child;
  }

  /**
   * Reached through the proxy itself, the child stands in for it; reached from an object made
   * from it (`Object.create`, as pino makes a child's child), that object stays `this`.
   */
  #receiver(receiver: unknown): unknown {
    return receiver === this.proxy ? this.#made() : receiver;
  }

  get(_parent: Logger, key: string | symbol, receiver: unknown): unknown {
    return Reflect.get(this.#made(), key, this.#receiver(receiver));
  }

  set(_parent: Logger, key: string | symbol, value: unknown, receiver: unknown): boolean {
    return Reflect.set(this.#made(), key, value, this.#receiver(receiver));
  }

  has(_parent: Logger, key: string | symbol): boolean {
    return Reflect.has(this.#made(), key);
  }

  getPrototypeOf(): object | null {
    return Reflect.getPrototypeOf(this.#made());
  }
}

type PrettyFactory = (options: {
  colorize: boolean;
  sync: boolean;
  singleLine: boolean;
}) => NodeJS.WritableStream;

async function loadPretty(): Promise<PrettyFactory | undefined> {
  try {
    const loaded: { default: PrettyFactory } = await import('pino-pretty');
    return loaded.default;
  } catch {
    // A production image installs no development dependencies; fall back to JSON.
    return undefined;
  }
}
