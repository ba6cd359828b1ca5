import { open, readFile, rm } from 'node:fs/promises';
import { ExitError } from '../exit-error.ts';

/** Whether a process with this id runs (signal 0 tests, it sends nothing). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return error instanceof Error && 'code' in error && error.code === 'EPERM';
  }
}

/**
 * Takes the lock file beside an embedded database, so a second process (another `npm run
 * dev`, a script) cannot open the same files: PGlite has no lock of its own, and two
 * writers corrupt it. A lock left by a process that died (kill -9) is taken over.
 * Resolves to the function that releases it.
 */
export async function lockDataDirectory(
  path: string,
  setting: string,
): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(path, { force: true });
    } catch (error) {
      if (!(error instanceof Error && 'code' in error && error.code === 'EEXIST')) throw error;
      const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && isRunning(holder)) {
        throw new ExitError(
          `${setting}: the embedded database is in use by process ${holder} (another npm run dev?); stop it, or set ${setting} to another folder, or DATABASE_URL`,
        );
      }
      await rm(path, { force: true });
    }
  }
  throw new ExitError(`${setting}: could not take the embedded database's lock (${path})`);
}
