/**
 * A Redis Cluster of three primaries for one test file, from the machine's `redis-server` on
 * spare loopback ports, joined with `redis-cli --cluster create`. Nothing is kept on disk
 * past `close()`, which kills the nodes.
 *
 * @example
 * const cluster = await startRedisCluster();
 * if (!cluster) return t.skip(missingToolReason('redis-server'));
 * after(() => cluster.close());
 * process.env.REDIS_URL = cluster.url; // any node: the client finds the others
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './processes.ts';
import { findTool, killTool } from './system-tools.ts';

export interface TestRedisCluster {
  /** `redis://127.0.0.1:<port>` of the first node. */
  url: string;
  ports: number[];
  /** A plain connection to each node, for checking where keys landed. */
  nodes(): Redis[];
  close(): Promise<void>;
}

/** Resolves once `check` holds, or fails naming `what` after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) assert.fail(`Redis Cluster: timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Three primaries, all 16384 slots assigned; `undefined` when redis-server or redis-cli is missing. */
export async function startRedisCluster(): Promise<TestRedisCluster | undefined> {
  const server = findTool('redis-server');
  const cli = findTool('redis-cli');
  if (!server || !cli) return undefined;
  const directory = await mkdtemp(join(tmpdir(), 'redis-cluster-'));
  const ports: number[] = [];
  const children: ChildProcess[] = [];
  const clients: Redis[] = [];
  const close = async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(children.map(killTool));
    await rm(directory, { recursive: true, force: true });
  };
  try {
    for (let index = 0; index < 3; index++) {
      const port = await freePort();
      const busPort = await freePort();
      ports.push(port);
      const child = spawn(
        server,
        [
          '--port',
          String(port),
          '--cluster-port',
          String(busPort),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(directory, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '2000',
          '--dir',
          directory,
          '--save',
          '',
          '--appendonly',
          'no',
          '--daemonize',
          'no',
          '--logfile',
          join(directory, `redis-${port}.log`),
        ],
        { stdio: 'ignore' },
      );
      children.push(child);
      const client = new Redis(port, '127.0.0.1', {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => 50,
      });
      client.on('error', () => {});
      clients.push(client);
    }
    await until('every node to answer', async () => {
      const replies = await Promise.all(clients.map((client) => client.ping()));
      return replies.every((reply) => reply === 'PONG');
    });
    await promisify(execFile)(
      cli,
      [
        '--cluster',
        'create',
        ...ports.map((port) => `127.0.0.1:${port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    await until('cluster_state:ok on every node', async () => {
      const infos = await Promise.all(clients.map((client) => client.cluster('INFO')));
      return infos.every(
        (info) => /cluster_state:ok/.test(info) && /cluster_known_nodes:3/.test(info),
      );
    });
  } catch (error) {
    await close();
    throw error;
  }
  return { url: `redis://127.0.0.1:${ports[0]}`, ports, nodes: () => clients, close };
}
