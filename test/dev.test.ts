/**
 * `npm run dev` as the README's quick start runs it: nothing set but `PORT`, so the embedded
 * database and in-process jobs. It needs that one port; a second one on the same port stops
 * at once with one line, before it touches the database the first one uses.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './support/processes.ts';

const ROOT = new URL('..', import.meta.url).pathname;

interface NpmRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `npm run dev` in the repository with only `env` (and PATH, HOME) in its environment. */
function npmRunDev(env: Record<string, string>): NpmRun {
  const child = spawn('npm', ['run', 'dev'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so the test can end npm and everything it started.
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function occupy(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return server;
}

const dataDir = mkdtempSync(join(tmpdir(), 'dev-test-'));
let port: number;
let workerHealthPort: Server;
let first: NpmRun;

before(async () => {
  port = await freePort();
  // Taken, to show the dev process leaves the worker's probe port alone.
  workerHealthPort = await occupy(await freePort());
  const address = workerHealthPort.address();
  assert.ok(address && typeof address === 'object');
  first = npmRunDev({
    PORT: String(port),
    DATA_DIR: dataDir,
    WORKER_HEALTH_PORT: String(address.port),
  });
});

/** Ends a run's process group unless it is gone (the dev server stops itself with it). */
function killGroup(run: NpmRun): void {
  if (run.child.pid === undefined) return;
  try {
    process.kill(-run.child.pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

after(async () => {
  killGroup(first);
  workerHealthPort.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm run dev', () => {
  test('answers /readyz on PORT with nothing else set', async () => {
    const deadline = Date.now() + 90_000;
    let status = 0;
    while (status !== 200) {
      if (first.child.exitCode !== null) {
        assert.fail(`npm run dev exited:\n${first.stderr()}\n${first.stdout()}`);
      }
      if (Date.now() > deadline) {
        assert.fail(`/readyz never answered 200:\n${first.stderr()}\n${first.stdout()}`);
      }
      status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (res) => res.status,
        () => 0,
      );
      if (status !== 200) await sleep(200);
    }
    assert.doesNotMatch(first.stdout() + first.stderr(), /EADDRINUSE|WORKER_HEALTH_PORT/);
  });

  test('a second one on the same PORT exits non-zero at once with one line naming PORT', async () => {
    const secondDataDir = mkdtempSync(join(tmpdir(), 'dev-test-second-'));
    try {
      const second = npmRunDev({ PORT: String(port), DATA_DIR: secondDataDir });
      const exit = await Promise.race([second.exited, sleep(30_000, undefined, { ref: false })]);
      if (!exit) killGroup(second);
      assert.ok(exit, `still running after 30 s:\n${second.stderr()}\n${second.stdout()}`);
      assert.notEqual(exit.code, 0);
      assert.equal(
        second.stderr(),
        `PORT: 127.0.0.1:${port} is already in use; set PORT to a free port\n`,
      );
      assert.ok(
        !existsSync(join(secondDataDir, 'pglite')),
        'it stopped before opening the embedded database',
      );
    } finally {
      rmSync(secondDataDir, { recursive: true, force: true });
    }
    const res = await fetch(`http://127.0.0.1:${port}/livez`);
    assert.equal(res.status, 200, 'the first one still serves');
  });

  test('Ctrl-C stops the whole dev process gracefully and frees the port', async () => {
    const pid = first.child.pid;
    assert.ok(pid);
    // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
    process.kill(-pid, 'SIGINT');
    const exit = await Promise.race([first.exited, sleep(30_000, undefined, { ref: false })]);
    assert.ok(exit, `still running after Ctrl-C:\n${first.stderr()}`);
    assert.match(first.stdout(), /shutting down/, 'it shut down gracefully');
    // Nothing is left listening on the port: the service itself stopped, not just npm.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const freed = await occupy(port).catch(() => undefined);
      if (freed) {
        freed.close();
        break;
      }
      if (Date.now() > deadline) assert.fail(`port ${port} still taken after Ctrl-C`);
      await sleep(100);
    }
    assert.doesNotMatch(first.stderr(), /Shutdown failed/);
  });
});
