/**
 * HAProxy (the Debian package) in front of API replicas, for the multi-replica test: round
 * robin, health checks on `/readyz`, a failed connection retried on another replica, and an
 * admin socket to read each server's state and counters and to take one out.
 *
 * @example
 * const proxy = await startHaproxy({ servers: [{ name: 'a', address: '127.0.0.2:3000' }] });
 * await fetch(`${proxy.base}/v1/items`);
 * (await proxy.servers()).get('a')?.status; // 'UP'
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './processes.ts';
import { findTool, killTool, runTool } from './system-tools.ts';

export interface ServerState {
  /** `UP`, `DOWN`, `MAINT`, or a transition such as `UP 1/2`. */
  status: string;
  /** Sessions HAProxy has sent to it so far. */
  sessions: number;
  /** The last health check's outcome, as HAProxy words it. */
  lastCheck: string;
}

export interface TestHaproxy {
  /** `http://127.0.0.1:<port>`, the frontend. */
  base: string;
  /** Milliseconds between two health checks of a server. */
  checkIntervalMs: number;
  /** Failed checks before a server is taken out. */
  fall: number;
  servers(): Promise<Map<string, ServerState>>;
  /** Sends a command to the admin socket (`disable server replicas/a`), returns its answer. */
  command(line: string): Promise<string>;
  /** Waits until `name`'s status is `status` (UP or DOWN). */
  waitFor(name: string, status: 'UP' | 'DOWN', timeoutMs?: number): Promise<void>;
  log(): string;
  close(): Promise<void>;
}

export interface HaproxyOptions {
  servers: { name: string; address: string }[];
  checkIntervalMs?: number;
  fall?: number;
  rise?: number;
}

/** HAProxy on a spare loopback port; `undefined` when it is not installed. */
export async function startHaproxy(options: HaproxyOptions): Promise<TestHaproxy | undefined> {
  const binary = findTool('haproxy');
  if (!binary) return undefined;
  const directory = await mkdtemp(join(tmpdir(), 'haproxy-'));
  const socket = join(directory, 'admin.sock');
  const port = await freePort();
  const inter = options.checkIntervalMs ?? 250;
  const fall = options.fall ?? 2;
  const rise = options.rise ?? 2;
  await writeFile(
    join(directory, 'haproxy.cfg'),
    [
      'global',
      `  stats socket ${socket} mode 600 level admin`,
      '  maxconn 4096',
      'defaults',
      '  mode http',
      '  timeout connect 1s',
      '  timeout client 60s',
      '  timeout server 60s',
      '  timeout http-keep-alive 10s',
      // A refused connection, or one the replica closed before answering (it was stopping),
      // is tried again on another replica: a rolling restart loses nothing.
      '  retries 3',
      '  option redispatch 1',
      '  retry-on conn-failure empty-response response-timeout',
      'frontend api',
      `  bind 127.0.0.1:${port}`,
      // The replicas' `Keep-Alive: timeout=65` (their idle timeout, above the balancer's) is
      // for HAProxy, but it passes the header on: a client then kept idle connections for a
      // minute that HAProxy closes after 10 s, and a request sent on one as it closed failed
      // ("fetch failed", once in CI). The balancer's clients go by its own timeout.
      '  http-response del-header keep-alive',
      // Sent again only when that is safe: reads, and writes that carry an Idempotency-Key.
      '  http-request disable-l7-retry if !METH_GET !METH_HEAD !{ req.hdr(idempotency-key) -m found }',
      '  default_backend replicas',
      'backend replicas',
      '  balance roundrobin',
      '  option forwardfor',
      '  option httpchk',
      '  http-check send meth GET uri /readyz ver HTTP/1.1 hdr host replicas',
      '  http-check expect status 200',
      `  default-server inter ${inter}ms fastinter ${inter}ms downinter ${inter}ms fall ${fall} rise ${rise}`,
      ...options.servers.map((server) => `  server ${server.name} ${server.address} check`),
      '',
    ].join('\n'),
  );
  const { child, output } = runTool(binary, ['-db', '-f', join(directory, 'haproxy.cfg')]);
  const close = async () => {
    await killTool(child);
    await rm(directory, { recursive: true, force: true });
  };
  const command = (line: string) =>
    new Promise<string>((resolve, reject) => {
      let answer = '';
      const client = connect(socket);
      client.setEncoding('utf8');
      client.on('data', (chunk: string) => {
        answer += chunk;
      });
      client.on('end', () => resolve(answer));
      client.on('error', reject);
      client.write(`${line}\n`);
    });
  const servers = async () => {
    const csv = await command('show stat');
    const [header = '', ...rows] = csv.replace(/^# /, '').trim().split('\n');
    const columns = header.split(',');
    const at = (name: string) => columns.indexOf(name);
    const states = new Map<string, ServerState>();
    for (const row of rows) {
      const cells = row.split(',');
      if (cells[at('pxname')] !== 'replicas') continue;
      const name = cells[at('svname')] ?? '';
      if (name === 'BACKEND' || name === 'FRONTEND') continue;
      states.set(name, {
        status: cells[at('status')] ?? '',
        sessions: Number(cells[at('stot')] ?? 0),
        lastCheck: `${cells[at('check_status')] ?? ''} ${cells[at('last_chk')] ?? ''}`.trim(),
      });
    }
    return states;
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      assert.fail(`haproxy exited (${child.exitCode}):\n${output()}`);
    }
    try {
      await servers();
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await close();
        assert.fail(`haproxy's admin socket never answered (${String(error)}):\n${output()}`);
      }
      await sleep(50);
    }
  }
  return {
    base: `http://127.0.0.1:${port}`,
    checkIntervalMs: inter,
    fall,
    servers,
    command,
    async waitFor(name, status, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const state = (await servers()).get(name);
        if (state?.status === status) return;
        if (Date.now() > until) {
          assert.fail(
            `haproxy: ${name} still ${state?.status ?? 'unknown'} (${state?.lastCheck}), not ${status}\n${output()}`,
          );
        }
        await sleep(20);
      }
    },
    log: output,
    close,
  };
}
