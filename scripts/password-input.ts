/**
 * Reading a password for a command-line script: from a terminal without echoing it, or from
 * the first line of standard input when that is a pipe or a file.
 */
import type { ReadStream } from 'node:tty';
import { ExitError } from '../src/core/exit-error.ts';

const ENTER = new Set(['\r', '\n']);
const BACKSPACE = new Set(['\x7f', '\b']);
const CTRL_C = '\x03';
const CTRL_D = '\x04';
const CTRL_U = '\x15';
const ESCAPE = '\x1b';

/**
 * Reads one line typed on `input`, a terminal, showing nothing of it: raw mode, so the
 * terminal does not echo, and the keys are handled here (Enter ends, Backspace and Ctrl-U
 * take back, Ctrl-C and Ctrl-D on an empty line cancel). `prompt` goes to `output`.
 */
export function readHiddenLine(
  input: Pick<ReadStream, 'setRawMode' | 'setEncoding' | 'resume' | 'pause' | 'on' | 'off'>,
  output: { write(text: string): unknown },
  prompt: string,
): Promise<string> {
  // Raw mode before the prompt: a key typed as soon as it shows must not be echoed.
  input.setRawMode(true);
  input.setEncoding('utf8');
  output.write(prompt);
  return new Promise((resolve, reject) => {
    let typed: string[] = [];
    const finish = (error?: Error) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(typed.join(''));
    };
    const onData = (chunk: string) => {
      for (const key of chunk) {
        if (ENTER.has(key)) return finish();
        if (key === CTRL_C) return finish(new ExitError('Cancelled.', { exitCode: 130 }));
        if (key === CTRL_D && typed.length === 0) return finish(new ExitError('Cancelled.'));
        if (BACKSPACE.has(key)) typed = typed.slice(0, -1);
        else if (key === CTRL_U) typed = [];
        // An arrow or function key sends an escape sequence in one chunk: none of it is typed.
        else if (key === ESCAPE) break;
        else if (key >= ' ') typed.push(key);
      }
    };
    input.on('data', onData);
    input.resume();
  });
}

/** The first line of `input` (a pipe or a file), without its line ending; '' when empty. */
export async function readFirstLine(input: AsyncIterable<Buffer | string>): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return (text.split('\n')[0] ?? '').replace(/\r$/, '');
}
