/**
 * What Redis is sent, as its `MONITOR` reports it: for tests that count the commands a
 * piece of code sends, not only their effect.
 *
 * Read from a plain socket, not through ioredis: its `monitor()` enters monitoring mode a
 * tick after Redis acknowledges, so on a busy server the first reported commands, arriving
 * with the acknowledgement, were taken for replies ("Command queue state error") and the
 * watch failed, leaving its connections open and the test file running forever.
 *
 * @example
 * const deletes = await watchCommands(/^del$/i, prefix);
 * after(() => deletes.close());
 * // …
 * assert.equal(deletes.seen.length, 1);
 */
import { connect } from 'node:net';
import { TEST_REDIS_URL } from './deps.ts';

export interface WatchedCommands {
  /** Each matching command, its name first, in the order Redis received them. */
  seen: string[][];
  close(): void;
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' };

/**
 * The arguments of one `MONITOR` line (`1700000000.1 [0 127.0.0.1:5000] "get" "key"`), each
 * quoted with backslash escapes as Redis writes them.
 */
export function monitoredArgs(line: string): string[] {
  const args: string[] = [];
  let index = line.indexOf('] ');
  if (index < 0) return args;
  index += 2;
  while (index < line.length) {
    if (line[index] !== '"') {
      index += 1;
      continue;
    }
    let arg = '';
    index += 1;
    while (index < line.length && line[index] !== '"') {
      const char = line[index] ?? '';
      if (char !== '\\') {
        arg += char;
        index += 1;
        continue;
      }
      const next = line[index + 1] ?? '';
      if (next === 'x') {
        arg += String.fromCharCode(Number.parseInt(line.slice(index + 2, index + 4), 16));
        index += 4;
      } else {
        arg += ESCAPES[next] ?? next;
        index += 2;
      }
    }
    args.push(arg);
    index += 1;
  }
  return args;
}

/** A command as Redis reads it (RESP), for the handshake. */
function encode(...words: string[]): string {
  return `*${words.length}\r\n${words.map((word) => `$${Buffer.byteLength(word)}\r\n${word}\r\n`).join('')}`;
}

/** Commands named as `name` matches that touch a key under `prefix`. */
export function watchCommands(name: RegExp, prefix: string): Promise<WatchedCommands> {
  const url = new URL(TEST_REDIS_URL);
  const socket = connect(Number(url.port || 6379), url.hostname);
  socket.setEncoding('utf8');
  const seen: string[][] = [];
  const watched: WatchedCommands = { seen, close: () => socket.destroy() };
  const handshake = url.password
    ? [
        encode(
          'AUTH',
          ...(url.username ? [decodeURIComponent(url.username)] : []),
          decodeURIComponent(url.password),
        ),
      ]
    : [];
  handshake.push(encode('MONITOR'));
  // Every handshake command answers +OK; what follows is the commands Redis is sent.
  let acknowledgements = handshake.length;
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', fail);
    let buffer = '';
    socket.on('data', (text: string) => {
      buffer += text;
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (acknowledgements > 0) {
          if (line !== '+OK') return fail(new Error(`MONITOR was refused: ${line}`));
          acknowledgements -= 1;
          if (acknowledgements === 0) {
            socket.off('error', fail);
            // Later socket errors end the watch; the test sees what it saw.
            socket.on('error', () => socket.destroy());
            resolve(watched);
          }
          continue;
        }
        const args = monitoredArgs(line);
        if (name.test(args[0] ?? '') && args.some((arg) => arg.startsWith(prefix))) seen.push(args);
      }
    });
    socket.write(handshake.join(''));
  });
}
