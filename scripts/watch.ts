/**
 * The runner of `npm run dev` (decision 006): runs `node <arguments>` and restarts it when a
 * file under a watched directory changes, as `node --watch-path` does, with one difference.
 * The first child failing before it reports ready failed on something no edit made, so no
 * edit fixes it (a port in use, a bad setting): the runner exits with its code, where
 * `node --watch` would wait for a change forever. A child started by a change, or one that
 * has been ready, waits for the next change when it fails.
 *
 *   node scripts/watch.ts --watch src -- --import ./src/preload.ts src/dev.ts
 *
 * The child reports ready with `process.send?.('ready')`, and should stop itself on
 * `disconnect`, which it gets if the runner is killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { type FSWatcher, watch } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';

/** Editors write a file in bursts: one restart per burst. */
const DEBOUNCE_MS = 200;
/** Signals closer together than this are one (npm passes on the Ctrl-C the runner got too). */
const SAME_SIGNAL_MS = 500;

const USAGE = 'Usage: node scripts/watch.ts --watch <dir> [--watch <dir>...] -- <node arguments>';

function parse(): { dirs: string[]; nodeArguments: string[] } {
  try {
    const { values, positionals } = parseArgs({
      options: { watch: { type: 'string', multiple: true } },
      allowPositionals: true,
    });
    const dirs = values.watch ?? [];
    if (dirs.length > 0 && positionals.length > 0) return { dirs, nodeArguments: positionals };
  } catch {
    // Reported as usage below.
  }
  console.error(USAGE);
  process.exit(2);
}

const { dirs, nodeArguments } = parse();
const say = (line: string) => process.stderr.write(`[dev] ${line}\n`);

let child: ChildProcess | undefined;
/** The running child has reported ready. */
let ready = false;
/** The running child was started because a file changed (not the first one). */
let startedByChange = false;
/** The running child was asked to stop so that another can start. */
let restarting = false;
/** When the runner was first asked to stop; it exits once the child has. */
let stopRequestedAt: number | undefined;

function start(byChange: boolean): void {
  ready = false;
  startedByChange = byChange;
  restarting = false;
  // Its own process group: a Ctrl-C reaches the runner only, which passes on one signal;
  // two would make the service skip its graceful shutdown.
  const current = spawn(process.execPath, nodeArguments, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  child = current;
  current.on('message', (message) => {
    if (message === 'ready') ready = true;
  });
  current.once('exit', (code, signal) => {
    if (child !== current) return;
    child = undefined;
    if (stopRequestedAt !== undefined) process.exit(code ?? 1);
    if (restarting) {
      start(true);
      return;
    }
    if (!ready && !startedByChange) process.exit(code ?? 1);
    const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
    say(`the process ${how}; waiting for a change under ${dirs.join(', ')} to restart`);
  });
}

let debounce: NodeJS.Timeout | undefined;
function onChange(dir: string, file: string | null): void {
  if (stopRequestedAt !== undefined) return;
  clearTimeout(debounce);
  debounce = setTimeout(() => {
    say(`${file ? relative(process.cwd(), `${dir}/${file}`) : dir} changed: restarting`);
    if (child) {
      restarting = true;
      child.kill('SIGTERM');
    } else {
      start(true);
    }
  }, DEBOUNCE_MS);
}

const watchers: FSWatcher[] = dirs.map((dir) =>
  watch(dir, { recursive: true }, (_event, file) => onChange(dir, file)),
);

function stop(): void {
  const now = Date.now();
  if (stopRequestedAt !== undefined && now - stopRequestedAt < SAME_SIGNAL_MS) return;
  // A later signal is passed on too: the impatient second Ctrl-C ends the child at once.
  stopRequestedAt ??= now;
  for (const watcher of watchers) watcher.close();
  clearTimeout(debounce);
  if (child) child.kill('SIGTERM');
  else process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);

start(false);
