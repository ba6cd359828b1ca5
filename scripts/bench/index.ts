/**
 * `npm run bench`: start-up time, idle memory and throughput of the full app, each beside a
 * bare Hono app doing the least the same route can do. Prints figures; asserts nothing.
 *
 * Needs PostgreSQL (TEST_DATABASE_URL, as the tests) and Redis (TEST_REDIS_URL), and `wrk`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { deleteRedisKeys, TEST_REDIS_URL } from '../../test/support/deps.ts';
import { type RunningTarget, startTarget, status, type Target } from './processes.ts';
import { SCENARIOS, type Scenario } from './scenarios.ts';
import { runWrk, type WrkOptions, type WrkResult } from './wrk.ts';

const STARTUP_RUNS = 5;
const ROUNDS = 3;
const WRK: WrkOptions = { threads: 2, connections: 50, durationSeconds: 5 };
const WARMUP: WrkOptions = { ...WRK, durationSeconds: 1 };
const AIMS = { ratio: 0.85, startupMs: 1_000, idleRssMb: 150 };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

const fmt = {
  ms: (value: number) => (value < 10 ? `${value.toFixed(2)} ms` : `${Math.round(value)} ms`),
  int: (value: number) => Math.round(value).toLocaleString('en-US'),
  mb: (value: number) => `${value.toFixed(1)} MB`,
  pct: (value: number) => `${(value * 100).toFixed(1)}%`,
};

function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] as number))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join(
    '\n',
  );
}

function log(text: string) {
  console.log(`[bench] ${text}`);
}

async function main() {
  const wrk = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (wrk.error) throw new Error('wrk is not installed (apt-get install wrk)');
  const began = performance.now();
  const loadBefore = loadavg()[0] ?? 0;

  const database: TestDatabase = await createTestDatabase();
  const redisPrefix = `bench:${randomBytes(6).toString('hex')}:`;
  const full: Target = {
    name: 'full',
    entry: 'src/server.ts',
    preload: true,
    readyPath: '/readyz',
    env: {
      NODE_ENV: 'production',
      JWT_SECRET: randomBytes(32).toString('hex'),
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redisPrefix,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    },
  };
  const bare: Target = {
    name: 'bare',
    entry: 'scripts/bench/bare-app.ts',
    readyPath: '/livez',
    env: {},
  };
  const running: RunningTarget[] = [];
  const cleanUp = async () => {
    await Promise.allSettled(running.map((app) => app.stop()));
    await Promise.allSettled([database.drop(), deleteRedisKeys(redisPrefix)]);
  };
  // Ctrl-C: still drop the bench database.
  process.once('SIGINT', () => {
    void cleanUp().finally(() => process.exit(130));
  });

  try {
    // 1. Start-up: spawn to ready, alternating, each process stopped before the next.
    const startup: Record<string, number[]> = { full: [], bare: [] };
    for (let run = 0; run < STARTUP_RUNS; run++) {
      for (const target of [full, bare]) {
        const started = await startTarget(target);
        startup[target.name]?.push(started.readyMs);
        await started.stop();
      }
    }
    log(
      `start-up runs (ms): full ${startup.full?.map(Math.round).join(', ')}; bare ${startup.bare?.map(Math.round).join(', ')}`,
    );

    // 2. Idle memory: after start and a few requests, once things settle.
    const fullApp = await startTarget(full);
    running.push(fullApp);
    const bareApp = await startTarget(bare);
    running.push(bareApp);
    for (const app of [fullApp, bareApp]) {
      for (let index = 0; index < 20; index++) {
        await status(`${app.baseUrl}/livez`);
        await status(`${app.baseUrl}${app.target.readyPath}`);
      }
    }
    await sleep(1_000);
    const idle = { full: await fullApp.memory(), bare: await bareApp.memory() };

    // 3. Throughput: every scenario, full and bare in alternation, ROUNDS rounds each.
    const results: { scenario: Scenario; target: string; rounds: WrkResult[] }[] = [];
    for (const scenario of SCENARIOS) {
      const apps = scenario.bare ? [fullApp, bareApp] : [fullApp];
      const rounds = new Map<RunningTarget, WrkResult[]>(apps.map((app) => [app, []]));
      for (const app of apps) await runWrk(app.baseUrl, scenario, WARMUP);
      for (let round = 0; round < ROUNDS; round++) {
        for (const app of apps) {
          const result = await runWrk(app.baseUrl, scenario, WRK);
          rounds.get(app)?.push(result);
          log(
            `${scenario.name} ${app.target.name} round ${round + 1}: ${fmt.int(result.requestsPerSecond)} req/s`,
          );
        }
      }
      for (const app of apps) {
        results.push({ scenario, target: app.target.name, rounds: rounds.get(app) ?? [] });
      }
    }
    const loaded = { full: await fullApp.memory(), bare: await bareApp.memory() };
    const logBytes = fullApp.stdoutBytes();
    const exitCodes = { full: await fullApp.stop(), bare: await bareApp.stop() };

    // 4. Report.
    const cpu = cpus();
    const loadAfter = loadavg()[0] ?? 0;
    console.log('');
    console.log('Benchmark');
    console.log(
      `  node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}; wrk -t${WRK.threads} -c${WRK.connections} -d${WRK.durationSeconds}s --latency, ${ROUNDS} rounds (median), after a ${WARMUP.durationSeconds} s warm-up`,
    );
    console.log(
      `  full: node --import ./src/preload.ts ${full.entry}, NODE_ENV=production, LOG_LEVEL=info, LOG_FORMAT=json to a pipe the bench drains (${fmt.mb(logBytes / 1e6)} of log read); PostgreSQL + Redis local`,
    );
    console.log(
      `  bare: node ${bare.entry}: hono + @hono/node-server, GET /livez, no middleware, no logging`,
    );
    const busy = Math.max(loadBefore, loadAfter) > cpu.length / 2;
    console.log(
      `  load average (1 min): ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after, on ${cpu.length} cores${busy ? ' — other work shares the machine: the figures are noisy' : ''}`,
    );
    console.log('');

    const startFull = median(startup.full ?? []);
    const startBare = median(startup.bare ?? []);
    console.log(
      table(
        ['measure', 'full', 'bare', 'aim (full)', 'met'],
        [
          [
            `start-up to ready (median of ${STARTUP_RUNS})`,
            fmt.ms(startFull),
            fmt.ms(startBare),
            `< ${fmt.ms(AIMS.startupMs)}`,
            startFull < AIMS.startupMs ? 'yes' : 'NO',
          ],
          [
            'idle RSS',
            fmt.mb(idle.full.rssMb),
            fmt.mb(idle.bare.rssMb),
            `< ${AIMS.idleRssMb} MB`,
            idle.full.rssMb < AIMS.idleRssMb ? 'yes' : 'NO',
          ],
          ['RSS after the load', fmt.mb(loaded.full.rssMb), fmt.mb(loaded.bare.rssMb), '', ''],
          ['peak RSS', fmt.mb(loaded.full.peakMb), fmt.mb(loaded.bare.peakMb), '', ''],
        ],
      ),
    );
    console.log(
      '  (ready: full = first 200 on GET /readyz, database and Redis checked; bare = first 200 on GET /livez)',
    );
    console.log('');

    const rows: string[][] = [];
    for (const { scenario, target, rounds } of results) {
      const rps = median(rounds.map((round) => round.requestsPerSecond));
      let ratio = '';
      if (target === 'full' && scenario.bare) {
        const bareRounds =
          results.find((r) => r.scenario === scenario && r.target === 'bare')?.rounds ?? [];
        const value = rps / median(bareRounds.map((round) => round.requestsPerSecond));
        ratio = `${fmt.pct(value)} (aim >= ${fmt.pct(AIMS.ratio)}: ${value >= AIMS.ratio ? 'yes' : 'NO'})`;
      }
      rows.push([
        `${scenario.method ?? 'GET'} ${scenario.path}`,
        target,
        fmt.int(rps),
        fmt.ms(median(rounds.map((round) => round.p50Ms))),
        fmt.ms(median(rounds.map((round) => round.p99Ms))),
        rounds.map((round) => fmt.int(round.requestsPerSecond)).join(' / '),
        fmt.int(rounds.reduce((sum, round) => sum + round.non2xx, 0)),
        fmt.int(rounds.reduce((sum, round) => sum + round.socketErrors, 0)),
        ratio,
      ]);
    }
    console.log(
      table(
        [
          'scenario',
          'app',
          'req/s',
          'p50',
          'p99',
          'rounds req/s',
          'non-2xx',
          'sock err',
          'full/bare',
        ],
        rows,
      ),
    );
    for (const scenario of SCENARIOS) {
      if (scenario.note) console.log(`  ${scenario.name}: ${scenario.note}`);
    }
    console.log("  (p50 and p99: median over the rounds of each round's wrk percentile)");
    console.log('');
    console.log(
      `Aims: full/bare req/s on GET /livez >= ${fmt.pct(AIMS.ratio)}, start-up < ${fmt.ms(AIMS.startupMs)}, idle RSS < ${AIMS.idleRssMb} MB.`,
    );
    console.log(
      `Exit codes after SIGTERM: full ${exitCodes.full}, bare ${exitCodes.bare}. Bench took ${Math.round((performance.now() - began) / 1_000)} s.`,
    );
  } finally {
    await cleanUp();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
