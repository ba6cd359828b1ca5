/**
 * A failure the person running the process can fix (a port in use, a missing option), not a
 * bug: `runMain` prints its message as one line, with no stack trace, and exits with
 * `exitCode`.
 *
 * @example
 * throw new ExitError('PORT: 127.0.0.1:3000 is already in use; set PORT to a free port');
 */
export class ExitError extends Error {
  readonly exitCode: number;

  constructor(message: string, options: { exitCode?: number } = {}) {
    super(message);
    this.name = 'ExitError';
    this.exitCode = options.exitCode ?? 1;
  }
}
