import { inspect } from 'node:util';
import { ExitError } from './exit-error.ts';
import { SettingsError } from './settings.ts';

/**
 * Runs an entry point's `main`. A bad environment prints its list of problems and exits 1,
 * an `ExitError` prints its one line and exits with its code, both with no stack trace; any
 * other start-up failure is a bug, printed with its stack, and exits 1.
 */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    if (error instanceof ExitError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(error.exitCode);
    }
    if (error instanceof SettingsError) {
      process.stderr.write(`${error.message}\n`);
    } else {
      process.stderr.write(
        `Start-up failed: ${error instanceof Error ? (error.stack ?? error.message) : inspect(error)}\n`,
      );
    }
    process.exit(1);
  });
}

/**
 * Calls `stop` once on the first SIGTERM or SIGINT; a second signal exits at once, for the
 * impatient Ctrl-C.
 */
export function onShutdownSignal(stop: (signal: NodeJS.Signals) => Promise<void>): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    stop(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`Shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}
