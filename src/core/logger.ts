import { type Logger, pino } from 'pino';
import type { Settings } from '../settings.ts';

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

export interface LoggerOptions {
  level: Settings['LOG_LEVEL'];
  format: Settings['LOG_FORMAT'];
  /** Where lines go; standard output unless a test captures them. */
  destination?: NodeJS.WritableStream;
  /** Fields added to every line, e.g. the active trace's ids. */
  mixin?: () => object;
}

/**
 * Creates the process logger: JSON lines, or colourised lines in development when
 * `pino-pretty` (a development dependency) is installed.
 */
export async function createLogger(options: LoggerOptions): Promise<Logger> {
  const config = {
    level: options.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    ...(options.mixin ? { mixin: options.mixin } : {}),
  };
  if (options.format === 'pretty' && !options.destination) {
    const pretty = await loadPretty();
    if (pretty) return pino(config, pretty({ colorize: true, sync: true, singleLine: true }));
  }
  return pino(config, options.destination ?? pino.destination({ sync: false }));
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
