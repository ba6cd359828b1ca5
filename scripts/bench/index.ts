/**
 * `npm run bench`: start-up time, idle memory and throughput of the full app, each beside a
 * baseline measured in the same run: a bare Hono app doing the least the same route can do,
 * or the same app with authentication replaced by a fixed principal. Prints figures, ratios
 * and whether each aim is met; asserts nothing.
 *
 * Needs PostgreSQL (TEST_DATABASE_URL, as the tests) and Redis (TEST_REDIS_URL), and `wrk`.
 * BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (1), BENCH_CONNECTIONS (50) and
 * BENCH_STARTUP_RUNS (5) tune how long it takes; BENCH_ONLY=livez,items runs only the scenarios
 * whose name contains one of those words.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { deleteRedisKeys, TEST_REDIS_URL } from '../../test/support/deps.ts';
import { type RunningTarget, startTarget, status, type Target } from './processes.ts';
import { type AppName, type Scenario, scenarios, type Variant } from './scenarios.ts';
import { seedBenchData } from './seed.ts';
import { runWrk, type WrkOptions, type WrkResult } from './wrk.ts';

function positiveInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}: a positive integer`);
  return value;
}

const STARTUP_RUNS = positiveInt('BENCH_STARTUP_RUNS', 5);
const ROUNDS = positiveInt('BENCH_ROUNDS', 3);
const WRK: WrkOptions = {
  threads: 2,
  connections: positiveInt('BENCH_CONNECTIONS', 50),
  durationSeconds: positiveInt('BENCH_SECONDS', 5),
};
const WARMUP: WrkOptions = {
  ...WRK,
  durationSeconds: positiveInt('BENCH_WARMUP_SECONDS', 1),
};
const ONLY = (process.env.BENCH_ONLY ?? '')
  .split(',')
  .map((word) => word.trim().toLowerCase())
  .filter((word) => word.length > 0);
const AIMS = { startupMs: 1_000, idleRssMb: 150 };

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

/** One variant of a scenario, with the app serving it and its rounds. */
interface Measured {
  scenario: Scenario;
  variant: Variant;
  app: RunningTarget;
  rounds: WrkResult[];
}

const rps = (measured: Measured) => median(measured.rounds.map((r) => r.requestsPerSecond));

/** The variant's req/s over the baseline's: of the medians, and round by round. */
function ratioOf(measured: Measured, all: Measured[]) {
  const { scenario } = measured;
  if (!scenario.baseline || measured.variant.label === scenario.baseline) return undefined;
  const base = all.find((m) => m.scenario === scenario && m.variant.label === scenario.baseline);
  if (!base) return undefined;
  return {
    value: rps(measured) / rps(base),
    perRound: measured.rounds.map(
      (round, index) => round.requestsPerSecond / (base.rounds[index]?.requestsPerSecond ?? NaN),
    ),
    p99: median(measured.rounds.map((r) => r.p99Ms)) / median(base.rounds.map((r) => r.p99Ms)),
  };
}

/** Errors where none were expected make a round's figures meaningless. */
function unexpectedErrors(measured: Measured): number {
  const expected = measured.variant.expectStatus ?? 200;
  return measured.rounds.reduce(
    (sum, round) => sum + round.socketErrors + (expected < 300 ? round.non2xx : 0),
    0,
  );
}

/** One request per variant before the load: the status it must have, and its body. */
async function preflight(
  list: Scenario[],
  apps: Record<AppName, RunningTarget>,
): Promise<string[]> {
  const warnings: string[] = [];
  for (const scenario of list) {
    const bodies: { label: string; body: unknown }[] = [];
    for (const variant of scenario.variants) {
      const { request } = variant;
      const response = await fetch(`${apps[variant.app].baseUrl}${request.path}`, {
        method: request.method ?? 'GET',
        headers: request.headers ?? {},
        ...(request.body === undefined ? {} : { body: request.body }),
      });
      const text = await response.text();
      const expected = variant.expectStatus ?? 200;
      if (response.status !== expected) {
        throw new Error(
          `${scenario.name} (${variant.label}): status ${response.status}, expected ${expected}:\n${text.slice(0, 500)}`,
        );
      }
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      bodies.push({ label: variant.label, body });
    }
    const [first, ...rest] = bodies;
    for (const other of rest) {
      if (first && !isDeepStrictEqual(first.body, other.body)) {
        warnings.push(
          `${scenario.name}: the ${other.label} body differs from the ${first.label} body:\n    ${JSON.stringify(first.body).slice(0, 300)}\n    ${JSON.stringify(other.body).slice(0, 300)}`,
        );
      }
    }
  }
  return warnings;
}

async function main() {
  const wrk = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (wrk.error) throw new Error('wrk is not installed (apt-get install wrk)');
  const began = performance.now();
  const loadBefore = loadavg()[0] ?? 0;

  const database: TestDatabase = await createTestDatabase();
  const redisPrefix = `bench:${randomBytes(6).toString('hex')}:`;
  const jwtSecret = randomBytes(32).toString('hex');
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
    // 0. Seed: a user, their token, API key and items.
    const seeded = performance.now();
    const seed = await seedBenchData(database.url, jwtSecret);
    log(
      `seeded user ${seed.userId}, a JWT, an API key and ${seed.itemCount} items in ${fmt.ms(performance.now() - seeded)}`,
    );

    const serverEnv = {
      NODE_ENV: 'production',
      JWT_SECRET: jwtSecret,
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redisPrefix,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    };
    const targets: Record<AppName, Target> = {
      full: {
        name: 'full',
        entry: 'src/server.ts',
        preload: true,
        readyPath: '/readyz',
        env: serverEnv,
      },
      bare: {
        name: 'bare',
        entry: 'scripts/bench/bare-app.ts',
        preload: true,
        readyPath: '/livez',
        env: {},
      },
      open: {
        name: 'open',
        entry: 'scripts/bench/open-app.ts',
        preload: true,
        readyPath: '/readyz',
        env: { ...serverEnv, BENCH_USER_ID: seed.userId },
      },
      'bare-items': {
        name: 'bare-items',
        entry: 'scripts/bench/bare-items-app.ts',
        preload: true,
        readyPath: '/readyz',
        env: { DATABASE_URL: database.url, JWT_SECRET: jwtSecret, BENCH_OWNER_ID: seed.userId },
      },
    };

    // 1. Start-up: spawn to ready, alternating, each process stopped before the next.
    const startup: Record<string, number[]> = { full: [], bare: [] };
    for (let run = 0; run < STARTUP_RUNS; run++) {
      for (const target of [targets.full, targets.bare]) {
        const started = await startTarget(target);
        startup[target.name]?.push(started.readyMs);
        await started.stop();
      }
    }
    log(
      `start-up runs (ms): full ${startup.full?.map(Math.round).join(', ')}; bare ${startup.bare?.map(Math.round).join(', ')}`,
    );

    // 2. Idle memory: after start and a few requests, once things settle.
    const apps = {} as Record<AppName, RunningTarget>;
    for (const name of Object.keys(targets) as AppName[]) {
      const app = await startTarget(targets[name]);
      running.push(app);
      apps[name] = app;
    }
    for (const app of [apps.full, apps.bare]) {
      for (let index = 0; index < 20; index++) {
        await status(`${app.baseUrl}/livez`);
        await status(`${app.baseUrl}${app.target.readyPath}`);
      }
    }
    await sleep(1_000);
    const idle = { full: await apps.full.memory(), bare: await apps.bare.memory() };

    // 3. Throughput: every scenario, its variants in alternation, ROUNDS rounds each. The
    // order turns by one each round, so no variant always follows the same one.
    const list = scenarios(seed).filter(
      (scenario) =>
        ONLY.length === 0 || ONLY.some((word) => scenario.name.toLowerCase().includes(word)),
    );
    const warnings = await preflight(list, apps);
    for (const warning of warnings) log(`WARNING ${warning}`);
    const results: Measured[] = [];
    for (const scenario of list) {
      const measured = scenario.variants.map((variant) => ({
        scenario,
        variant,
        app: apps[variant.app],
        rounds: [] as WrkResult[],
      }));
      for (const m of measured) await runWrk(m.app.baseUrl, m.variant.request, WARMUP);
      for (let round = 0; round < ROUNDS; round++) {
        const turn = round % measured.length;
        for (const m of [...measured.slice(turn), ...measured.slice(0, turn)]) {
          const result = await runWrk(m.app.baseUrl, m.variant.request, WRK);
          m.rounds.push(result);
          log(
            `${scenario.name} ${m.variant.label} round ${round + 1}: ${fmt.int(result.requestsPerSecond)} req/s, p99 ${fmt.ms(result.p99Ms)}`,
          );
        }
      }
      results.push(...measured);
    }
    const loaded = { full: await apps.full.memory(), bare: await apps.bare.memory() };
    const logBytes = apps.full.stdoutBytes() + apps.open.stdoutBytes();
    const exitCodes: Partial<Record<AppName, number | null>> = {};
    for (const name of Object.keys(apps) as AppName[]) exitCodes[name] = await apps[name].stop();

    // 4. Report.
    const cpu = cpus();
    const loadAfter = loadavg()[0] ?? 0;
    console.log('');
    console.log('Benchmark');
    console.log(
      `  node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}; wrk -t${WRK.threads} -c${WRK.connections} -d${WRK.durationSeconds}s --latency, ${ROUNDS} rounds (median), variants alternating within each round (order turned each round), after a ${WARMUP.durationSeconds} s warm-up each`,
    );
    console.log(
      `  full: node --import ./src/preload.ts ${targets.full.entry}, NODE_ENV=production, LOG_LEVEL=info, LOG_FORMAT=json to a pipe the bench drains (${fmt.mb(logBytes / 1e6)} of log read, with open); PostgreSQL + Redis local`,
    );
    console.log(
      `  open: ${targets.open.entry}: the full app built as src/server.ts does, with auth: actAs(seeded user, role user, items:read items:write)`,
    );
    console.log(
      `  bare: ${targets.bare.entry}: hono + @hono/node-server, GET /livez, no middleware, no logging`,
    );
    console.log(
      `  bare-items: ${targets['bare-items'].entry}: hono + postgres.js (pool 10, as the full app), the service's SQL text, owner from env, no auth/logging/validation`,
    );
    console.log(
      '  every server is started with --import ./src/preload.ts; seeded: 1 user, 1 JWT, 1 API key (items:read items:write), 1,000 items',
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
    for (const m of results) {
      const ratio = ratioOf(m, results);
      rows.push([
        m.scenario.name,
        m.variant.label,
        m.app.target.name,
        fmt.int(rps(m)),
        fmt.ms(median(m.rounds.map((round) => round.p50Ms))),
        fmt.ms(median(m.rounds.map((round) => round.p99Ms))),
        m.rounds.map((round) => fmt.int(round.requestsPerSecond)).join(' / '),
        fmt.int(m.rounds.reduce((sum, round) => sum + round.non2xx, 0)),
        fmt.int(m.rounds.reduce((sum, round) => sum + round.socketErrors, 0)),
        ratio ? `${fmt.pct(ratio.value)} of ${m.scenario.baseline}` : '',
        ratio ? ratio.perRound.map(fmt.pct).join(' / ') : '',
        ratio ? `${ratio.p99.toFixed(2)}×` : '',
      ]);
    }
    console.log(
      table(
        [
          'scenario',
          'variant',
          'app',
          'req/s',
          'p50',
          'p99',
          'rounds req/s',
          'non-2xx',
          'sock err',
          'req/s ratio',
          'per round',
          'p99 ratio',
        ],
        rows,
      ),
    );
    for (const scenario of list) {
      if (scenario.note) console.log(`  ${scenario.name}: ${scenario.note}`);
    }
    console.log(
      "  (p50 and p99: median over the rounds of each round's wrk percentile; req/s ratio: of the medians; per round: each round against the baseline's same round)",
    );
    for (const warning of warnings) console.log(`  WARNING ${warning}`);
    console.log('');

    // 5. Summary: every scenario, its ratio and its aim.
    const summary: string[][] = [
      [
        'start-up to ready',
        'full',
        fmt.ms(startFull),
        `< ${fmt.ms(AIMS.startupMs)}`,
        startFull < AIMS.startupMs ? 'met' : 'NOT MET',
      ],
      [
        'idle RSS',
        'full',
        fmt.mb(idle.full.rssMb),
        `< ${AIMS.idleRssMb} MB`,
        idle.full.rssMb < AIMS.idleRssMb ? 'met' : 'NOT MET',
      ],
    ];
    for (const scenario of list) {
      const measured = results.filter((m) => m.scenario === scenario);
      const errors = measured.reduce((sum, m) => sum + unexpectedErrors(m), 0);
      if (!scenario.baseline) {
        for (const m of measured) {
          summary.push([
            scenario.name,
            `${m.variant.label} req/s`,
            fmt.int(rps(m)),
            '(figure only)',
            errors > 0 ? `${errors} errors` : '—',
          ]);
        }
        continue;
      }
      for (const m of measured) {
        const ratio = ratioOf(m, results);
        if (!ratio) continue;
        const aim = scenario.aim ?? 0;
        let met = ratio.value >= aim ? 'met' : 'NOT MET';
        if (errors > 0) met += ` (${errors} errors)`;
        summary.push([
          scenario.name,
          `${m.variant.label} / ${scenario.baseline} req/s`,
          fmt.pct(ratio.value),
          `>= ${fmt.pct(aim)}`,
          met,
        ]);
      }
    }
    console.log('Summary');
    console.log(table(['scenario', 'measure', 'value', 'aim', 'met'], summary));
    console.log('');
    console.log(
      `Exit codes after SIGTERM: ${Object.entries(exitCodes)
        .map(([name, code]) => `${name} ${code}`)
        .join(', ')}. Bench took ${Math.round((performance.now() - began) / 1_000)} s.`,
    );
  } finally {
    await cleanUp();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
