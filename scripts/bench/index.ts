/**
 * `npm run bench`: start-up time, idle memory, HTTP throughput and jobs throughput of the
 * full app, each beside a baseline measured in the same run: a bare Hono app doing the least
 * the same route can do, the same app with authentication replaced by a fixed principal, or
 * raw BullMQ. Prints figures, ratios and whether each aim is met; asserts nothing.
 *
 * Needs PostgreSQL (TEST_DATABASE_URL, as the tests) and Redis (TEST_REDIS_URL), and `wrk`.
 * BENCH_ROUNDS (5; 3 with --ci), BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (a warm-up spell: 2; 1
 * with --ci), BENCH_WARMUP_MAX_SECONDS (spells until the rate stops rising, at most 30; one
 * spell with --ci), BENCH_WARMUP_MIN_SECONDS (spells for at least 10 s, within the most),
 * BENCH_CONNECTIONS (50),
 * BENCH_STARTUP_RUNS (5), BENCH_JOBS (3000 jobs per run) and BENCH_JOB_ROUNDS (BENCH_ROUNDS)
 * tune how long it takes; BENCH_ONLY=livez,items,jobs runs only the scenarios whose name
 * contains one of those words ("jobs": the jobs throughput; "batch" and "retrieval": the AI
 * module's, see ai.ts).
 *
 * `npm run bench -- --ci` is the short run CI makes (under a minute): three short rounds of
 * /livez, the item read and the jobs (a median of three, as one round alone swung by a third
 * on a busy machine), two start-ups, the same table, and exit code 1 only when a ratio falls
 * below half of its aim, so a gross regression fails CI and a noisy machine does not. The
 * BENCH_ variables still apply.
 *
 * `npm run bench -- --soak` (or BENCH_SOAK_SECONDS=600) runs the soak instead: the mixed
 * workload against the full server for BENCH_SOAK_SECONDS (600), RSS and the rate sampled
 * every BENCH_SOAK_SAMPLE_SECONDS (10), growth and slowing measured from
 * BENCH_SOAK_WARMUP_SECONDS (60) on.
 *
 * `npm run bench -- --counts` prints, instead of rates, what a request makes: the promises
 * each server creates and the bytes it allocates a request, under the same load (decision
 * 088). They move when the code does, not with the machine's speed; BENCH_ONLY applies.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { QUIET_RELEASE_MESSAGE } from '../../src/core/quiet-memory-release.ts';
import { settingsSchema } from '../../src/core/settings.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { deleteRedisKeys, TEST_REDIS_URL } from '../../test/support/deps.ts';
import { buildBundle } from '../build.ts';
import { benchAi } from './ai.ts';
import { counting, countPerRequest, type PerRequest } from './counts.ts';
import { type LatencyFigures, measureGatewayLatency } from './gateway-latency.ts';
import { benchJobs, type JobsRun, summarizeJobs, WARMUP_JOBS } from './jobs.ts';
import {
  type Allocator,
  allocatorOf,
  COMPILE_CACHE,
  freePort,
  PRODUCTION_ENTRY,
  PRODUCTION_ENV,
  PRODUCTION_LAUNCHER,
  PRODUCTION_NODE_FLAGS,
  type RunningTarget,
  startTarget,
  status,
  type Target,
} from './processes.ts';
import { fmt, log, median, positiveInt, table } from './report.ts';
import {
  type AppName,
  BENCH_MODEL,
  isControl,
  mixedScenario,
  requestsOf,
  type Scenario,
  scenarios,
  UNIQUE,
  type Variant,
} from './scenarios.ts';
import { seedBenchData } from './seed.ts';
import { runSoak } from './soak.ts';
import { runWrk, type WarmUpOptions, type WrkOptions, type WrkResult, warmUp } from './wrk.ts';

const CI = process.argv.slice(2).includes('--ci');
const COUNTS = process.argv.slice(2).includes('--counts');
const STARTUP_RUNS = positiveInt('BENCH_STARTUP_RUNS', CI ? 2 : 5);
// Five: a round's rate swings by a third with the machine's slow spells, which last seconds,
// and a median of five is moved by two such rounds where a median of three is by one
// (decision 110).
const ROUNDS = positiveInt('BENCH_ROUNDS', CI ? 3 : 5);
const WRK: WrkOptions = {
  threads: 2,
  connections: positiveInt('BENCH_CONNECTIONS', 50),
  durationSeconds: positiveInt('BENCH_SECONDS', CI ? 2 : 5),
};
const WARMUP: WrkOptions = {
  ...WRK,
  durationSeconds: positiveInt('BENCH_WARMUP_SECONDS', CI ? 1 : 2),
};
/**
 * Each variant's warm-up: spells of WARMUP until its rate stops rising, for 10 s at least
 * (decisions 121, 126, 134).
 */
const WARM_UP: WarmUpOptions = {
  spellSeconds: WARMUP.durationSeconds,
  // With --ci, one spell (the most seconds win over the fewest): CI checks half of each aim,
  // and has a minute.
  maxSeconds: positiveInt('BENCH_WARMUP_MAX_SECONDS', CI ? 1 : 30),
  minSeconds: positiveInt('BENCH_WARMUP_MIN_SECONDS', 10),
  rise: 0.05,
  settled: 2,
};
const JOBS = {
  count: positiveInt('BENCH_JOBS', CI ? 1_000 : 3_000),
  rounds: positiveInt('BENCH_JOB_ROUNDS', ROUNDS),
  concurrencies: [1, 50],
};
/** The gateway's latency: requests of each kind per target and round, one at a time. */
const LATENCY = {
  requests: positiveInt('BENCH_LATENCY_REQUESTS', 300),
  warmup: positiveInt('BENCH_LATENCY_WARMUP', 30),
  rounds: ROUNDS,
};
const SOAK = {
  on:
    process.argv.slice(2).includes('--soak') ||
    (process.env.BENCH_SOAK_SECONDS !== undefined && process.env.BENCH_SOAK_SECONDS !== ''),
  seconds: positiveInt('BENCH_SOAK_SECONDS', 600),
  warmupSeconds: positiveInt('BENCH_SOAK_WARMUP_SECONDS', 60),
  sampleSeconds: positiveInt('BENCH_SOAK_SAMPLE_SECONDS', 10),
};
const ONLY = (process.env.BENCH_ONLY || (CI ? 'livez,items/{id},jobs' : ''))
  .split(',')
  .map((word) => word.trim().toLowerCase())
  .filter((word) => word.length > 0);
const wanted = (name: string) =>
  ONLY.length === 0 || ONLY.some((word) => name.toLowerCase().includes(word));
/**
 * Scenarios whose floor in `--ci` (half the aim) is reported but does not fail CI: the item
 * read measured 38.9–57.2% of bare across nine short runs here, against a floor of 42.5%, and
 * missed it on the machine's slow moments while the code was the same (decision 050).
 */
const ADVISORY_IN_CI = new Set(['GET /v1/items/{id}']);
/** A setting as the full server reads it from this environment: its value, else its default. */
function fullServerSetting(name: 'DATABASE_POOL_MAX' | 'QUIET_MEMORY_RELEASE_MS'): number {
  return settingsSchema.in.shape[name].parse(process.env[name]);
}
/**
 * The full server's quiet period before it hands memory back (QUIET_MEMORY_RELEASE_MS), but
 * 5 s in `--ci`, whose rest for it (below) was most of the run's last 18 s and took the run
 * past its minute (59-62 s; decision 135).
 */
const QUIET_RELEASE_MS = CI ? 5_000 : fullServerSetting('QUIET_MEMORY_RELEASE_MS');
/**
 * How long the servers rest after the last HTTP scenario before their RSS is read: the full
 * server's quiet period, the second it may notice it late, and 2 s for the release.
 */
const AFTER_LOAD_REST_MS = QUIET_RELEASE_MS + 3_000;
/**
 * The PostgreSQL pool of each server that reads the items table: the full server's, as its
 * settings make it here, given to bare items too. Its size alone moved the item read by 12-33%
 * on the machine the bench ran on (decision 133), so the two must never differ, and a
 * change of the template's default must reach the baseline as well.
 */
const DATABASE_POOL_MAX = fullServerSetting('DATABASE_POOL_MAX');
/**
 * The full server's releases after load, from its log lines: whether the RSS read after the
 * bench came after one, since a release comes only when the heap or the RSS has grown enough
 * since the last (decisions 069, 102).
 */
function describeReleases(lines: string[]): string {
  const releases = lines.flatMap((line) => {
    try {
      const entry: Record<
        'after' | 'heapMb' | 'heapAfterMb' | 'rssMb' | 'rssAfterMb' | 'pauseMs',
        unknown
      > = JSON.parse(line);
      return entry.after === 'load'
        ? [
            `V8's heap ${entry.heapMb} → ${entry.heapAfterMb} MB, RSS ${entry.rssMb} → ${entry.rssAfterMb} MB, in ${entry.pauseMs} ms`,
          ]
        : [];
    } catch {
      return [];
    }
  });
  return `full's releases after load (decisions 069, 102): ${releases.length === 0 ? 'none' : `${releases.length}, ${releases.join('; ')}`}`;
}

/** `npm start`'s environment as its script writes it, for the tables' notes. */
const PRODUCTION_ENV_TEXT = Object.entries(PRODUCTION_ENV)
  .map(([name, value]) => `${name}=${value}`)
  .join(', ');

/** How the bench runs the full server, as `npm start` runs it, and the allocator it got. */
function describeFull(full: Target, allocator: Allocator): string {
  const command = [...PRODUCTION_LAUNCHER, 'node', ...PRODUCTION_NODE_FLAGS, full.entry].join(' ');
  return `  full: ${command} (the bundle npm start builds and runs; allocator: ${allocator}${allocator === 'glibc' ? ', no jemalloc on this machine' : ''}, decision 113), ${PRODUCTION_ENV_TEXT}, NODE_COMPILE_CACHE=${COMPILE_CACHE} (every target)`;
}

const AIMS = {
  startupMs: 800,
  idleRssMb: 130,
  /** RSS of the full server after the load, as a multiple of the bare items server's. */
  loadedRss: 1.2,
  /** defineJob + the worker, as a share of raw BullMQ's jobs/s. */
  jobs: 0.85,
  /** RSS growth over the soak, from the end of its warm-up. */
  soakGrowth: 0.05,
  /** The soak's rate in the second half after its warm-up, as a share of the first half's. */
  soakRate: 0.9,
  /** What the gateway adds to the upstream's p50, streamed (first token) or not. */
  gatewayAddedMs: 1,
};

/** One variant of a scenario, with the app serving it and its rounds. */
interface Measured {
  scenario: Scenario;
  variant: Variant;
  app: RunningTarget;
  rounds: WrkResult[];
  /** The server's CPU time a request in each round, in µs, beside the round's rate. */
  cpuPerRequestUs: number[];
}

const rps = (measured: Measured) => median(measured.rounds.map((r) => r.requestsPerSecond));
const p99 = (measured: Measured) => median(measured.rounds.map((r) => r.p99Ms));

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
    p99: p99(measured) / p99(base),
    cpu: median(base.cpuPerRequestUs) / median(measured.cpuPerRequestUs),
  };
}

/** Errors where none were expected make a round's figures meaningless. */
function unexpectedErrors(measured: Measured): number {
  const { variant } = measured;
  const success = requestsOf(variant.request).every(
    (request) => (request.expectStatus ?? variant.expectStatus ?? 200) < 300,
  );
  return measured.rounds.reduce(
    (sum, round) => sum + round.socketErrors + (success ? round.non2xx : 0),
    0,
  );
}

/** Drops the fields that differ by nature before bodies are compared. */
function comparable(body: unknown, ignore: string[] | undefined): unknown {
  if (!ignore || typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  return Object.fromEntries(Object.entries(body).filter(([key]) => !ignore.includes(key)));
}

/**
 * One request of each kind per variant before the load: the status it must have, and its
 * body, compared across variants. Request by request, so a write cannot change what the
 * other variant's read of the same kind sees.
 */
async function preflight(
  list: Scenario[],
  baseUrlOf: (variant: Variant) => string,
): Promise<string[]> {
  const warnings: string[] = [];
  for (const scenario of list) {
    const kinds = Math.max(...scenario.variants.map((v) => requestsOf(v.request).length));
    for (let kind = 0; kind < kinds; kind++) {
      const bodies: { label: string; body: unknown; ignore: string[] | undefined }[] = [];
      for (const variant of scenario.variants) {
        const request = requestsOf(variant.request)[kind];
        if (!request) continue;
        const unique = `preflight-${randomBytes(4).toString('hex')}`;
        const response = await fetch(`${baseUrlOf(variant)}${request.path}`, {
          method: request.method ?? 'GET',
          headers: request.headers ?? {},
          ...(request.body === undefined ? {} : { body: request.body.replaceAll(UNIQUE, unique) }),
        });
        const text = await response.text();
        const expected = request.expectStatus ?? variant.expectStatus ?? 200;
        if (response.status !== expected) {
          throw new Error(
            `${scenario.name} (${variant.label}, ${request.method ?? 'GET'} ${request.path}): status ${response.status}, expected ${expected}:\n${text.slice(0, 500)}`,
          );
        }
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {}
        if (request.compare !== false) {
          bodies.push({ label: variant.label, body, ignore: request.ignoreFields });
        }
      }
      const [first, ...rest] = bodies;
      for (const other of rest) {
        if (
          first &&
          !isDeepStrictEqual(
            comparable(first.body, first.ignore),
            comparable(other.body, first.ignore),
          )
        ) {
          warnings.push(
            `${scenario.name}: the ${other.label} body differs from the ${first.label} body:\n    ${JSON.stringify(first.body).slice(0, 300)}\n    ${JSON.stringify(other.body).slice(0, 300)}`,
          );
        }
      }
    }
  }
  return warnings;
}

function describeMachine(loadBefore: number): { line: string; busy: boolean } {
  const cpu = cpus();
  const loadAfter = loadavg()[0] ?? 0;
  const busy = Math.max(loadBefore, loadAfter) > cpu.length / 2;
  return {
    busy,
    line: `  node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}; load average (1 min): ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after${busy ? ' — other work shares the machine: the figures are noisy' : ''}`,
  };
}

/** The key the gateway sends the bench upstream (which accepts any). */
const UPSTREAM_KEY = 'sk-bench-upstream';

/** The servers, built around one seeded database and Redis prefix. */
async function buildTargets(
  databaseUrl: string,
  redisPrefix: string,
  jwtSecret: string,
  userId: string,
): Promise<{ targets: Record<AppName, Target>; serverEnv: Record<string, string> }> {
  const upstreamPort = await freePort();
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}/v1`;
  const serverEnv = {
    ...PRODUCTION_ENV,
    JWT_SECRET: jwtSecret,
    DATABASE_URL: databaseUrl,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: redisPrefix,
    DATABASE_POOL_MAX: String(DATABASE_POOL_MAX),
    QUIET_MEMORY_RELEASE_MS: String(QUIET_RELEASE_MS),
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    // One user sends everything: the limit is raised past reach, but still counted in Redis
    // on every request, as in production.
    RATE_LIMIT_DEFAULT_REQUESTS: '1000000000',
    // The AI gateway in front of the bench upstream, its per-key limits past reach as above;
    // the upstream concurrency cap and queue stay at their defaults.
    AI_UPSTREAM_URL: upstreamUrl,
    AI_UPSTREAM_API_KEY: UPSTREAM_KEY,
    AI_MODELS: JSON.stringify([
      {
        id: BENCH_MODEL,
        upstream: 'bench-upstream-model',
        inputPrice: '0.15',
        cachedInputPrice: '0.075',
        outputPrice: '0.60',
        contextWindow: 128_000,
        maxOutput: 1_000,
      },
    ]),
    AI_REQUESTS_PER_MINUTE: '1000000000',
    AI_TOKENS_PER_MINUTE: '1000000000000',
  };
  const bareItems: Target = {
    name: 'bare-items',
    entry: 'scripts/bench/bare-items-app.ts',
    preload: true,
    readyPath: '/readyz',
    env: {
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_MAX: String(DATABASE_POOL_MAX),
      JWT_SECRET: jwtSecret,
      BENCH_OWNER_ID: userId,
    },
  };
  return {
    serverEnv,
    targets: {
      full: {
        name: 'full',
        entry: PRODUCTION_ENTRY,
        nodeFlags: PRODUCTION_NODE_FLAGS,
        launcher: PRODUCTION_LAUNCHER,
        readyPath: '/readyz',
        env: serverEnv,
        keepLinesWith: QUIET_RELEASE_MESSAGE,
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
        nodeFlags: PRODUCTION_NODE_FLAGS,
        launcher: PRODUCTION_LAUNCHER,
        readyPath: '/readyz',
        env: { ...serverEnv, BENCH_USER_ID: userId },
      },
      'bare-items': bareItems,
      'bare-items-again': { ...bareItems, name: 'bare-items-again' },
      upstream: {
        name: 'upstream',
        entry: 'scripts/bench/fake-upstream.ts',
        readyPath: '/livez',
        port: upstreamPort,
        env: {},
      },
      'bare-proxy': {
        name: 'bare-proxy',
        entry: 'scripts/bench/bare-proxy-app.ts',
        preload: true,
        readyPath: '/livez',
        env: { BENCH_UPSTREAM_URL: upstreamUrl, BENCH_UPSTREAM_API_KEY: UPSTREAM_KEY },
      },
    },
  };
}

interface Session {
  database: TestDatabase;
  redisPrefix: string;
  jobsPrefix: string;
  jwtSecret: string;
  running: RunningTarget[];
  began: number;
  loadBefore: number;
}

/** `--counts`: promises and bytes a request, each variant of each scenario (decision 088). */
async function counts(session: Session) {
  const { database, redisPrefix, jwtSecret, running } = session;
  const seed = await seedBenchData(database.url, jwtSecret);
  const { targets } = await buildTargets(database.url, redisPrefix, jwtSecret, seed.userId);
  // Counts move with the code alone: a control has nothing to tell of them.
  const list = scenarios(seed).filter((scenario) => wanted(scenario.name) && !isControl(scenario));
  // The bench upstream first, for the gateway's scenarios; it is not counted.
  running.push(await startTarget(targets.upstream));
  const servers = new Map<AppName, { pid: number; baseUrl: string; countsFile: string }>();
  for (const name of new Set(list.flatMap((scenario) => scenario.variants.map((v) => v.app)))) {
    const target = counting(targets[name]);
    const app = await startTarget(target);
    running.push(app);
    servers.set(name, { pid: app.pid, baseUrl: app.baseUrl, countsFile: target.countsFile });
  }
  const rows: string[][] = [];
  for (const scenario of list) {
    const figures: { label: string; per: PerRequest }[] = [];
    for (const variant of scenario.variants) {
      const server = servers.get(variant.app);
      if (!server) continue;
      await runWrk(server.baseUrl, variant.request, WARMUP);
      const per = await countPerRequest(server, variant.request, WRK);
      figures.push({ label: variant.label, per });
    }
    const base = figures.find((figure) => figure.label === scenario.baseline)?.per;
    for (const { label, per } of figures) {
      const against =
        base && label !== scenario.baseline
          ? `${fmt.times(per.promises / base.promises)} / ${fmt.times(per.bytes / base.bytes)}`
          : '';
      rows.push([
        scenario.name,
        label,
        per.promises.toFixed(1),
        `${(per.bytes / 1_000).toFixed(1)} KB`,
        against,
        fmt.int(per.requests),
      ]);
    }
  }
  console.log(
    `\n${table(['scenario', 'variant', 'promises', 'allocated', 'promises / bytes against the baseline', 'requests'], rows)}`,
  );
  console.log(
    `  a request's share of what each server made over one ${WRK.durationSeconds} s run (wrk -t${WRK.threads} -c${WRK.connections}, after ${WARMUP.durationSeconds} s of warm-up): promises created (v8.promiseHooks), bytes allocated (V8's sampling heap profiler, collected objects included: one sample every 4 KB); scripts/bench/counts-preload.ts`,
  );
}

/** `--soak`: the mixed workload against the full server only, its memory sampled. */
async function soak(session: Session) {
  const { database, redisPrefix, jwtSecret, running } = session;
  const seed = await seedBenchData(database.url, jwtSecret);
  const { targets } = await buildTargets(database.url, redisPrefix, jwtSecret, seed.userId);
  // Started once before, as in the default run: the measured process finds its compile cache.
  await (await startTarget(targets.full)).stop();
  const app = await startTarget(targets.full);
  running.push(app);
  const scenario = mixedScenario(seed);
  const variant = scenario.variants.find((v) => v.app === 'full');
  if (!variant) throw new Error('the mixed scenario has no full variant');
  const warnings = await preflight([{ ...scenario, variants: [variant] }], () => app.baseUrl);
  for (const warning of warnings) log(`WARNING ${warning}`);
  // At least two samples after the warm-up, however short the soak.
  const warmupSeconds = Math.max(
    SOAK.sampleSeconds,
    Math.min(SOAK.warmupSeconds, SOAK.seconds - 2 * SOAK.sampleSeconds),
  );
  const wrk: WrkOptions = { ...WRK, durationSeconds: SOAK.seconds };
  const startRss = (await app.memory()).rssMb;
  log(
    `soak: ${scenario.name} against full for ${SOAK.seconds} s (wrk -t${wrk.threads} -c${wrk.connections}), RSS every ${SOAK.sampleSeconds} s, growth from ${warmupSeconds} s on; RSS at start ${fmt.mb(startRss)}`,
  );
  const result = await runSoak({
    app,
    load: variant.request,
    wrk,
    warmupSeconds,
    sampleSeconds: SOAK.sampleSeconds,
    onSample: (sample) =>
      log(
        `soak ${sample.atSeconds} s: RSS ${fmt.mb(sample.rssMb)}, heap used ${sample.heapUsedMb === undefined ? '?' : fmt.mb(sample.heapUsedMb)}, ${sample.requestsPerSecond === undefined ? '?' : fmt.int(sample.requestsPerSecond)} req/s`,
      ),
  });
  const allocator = await allocatorOf(app.pid);
  const exitCode = await app.stop();

  const machine = describeMachine(session.loadBefore);
  console.log('');
  console.log('Soak');
  console.log(machine.line);
  console.log(
    `${describeFull(targets.full, allocator)}, LOG_LEVEL=info, LOG_FORMAT=json to a pipe the bench drains (${fmt.mb(app.stdoutBytes() / 1e6)} of log read)`,
  );
  console.log(`  load: ${scenario.name} (${scenario.note ?? ''})`);
  console.log(
    `  wrk -t${wrk.threads} -c${wrk.connections} -d${wrk.durationSeconds}s: ${fmt.int(result.wrk.requestsPerSecond)} req/s, p50 ${fmt.ms(result.wrk.p50Ms)}, p99 ${fmt.ms(result.wrk.p99Ms)}, ${fmt.int(result.wrk.requests)} requests, ${fmt.int(result.wrk.non2xx)} non-2xx, ${fmt.int(result.wrk.socketErrors)} socket errors`,
  );
  console.log('');
  const rows = [
    ['start (idle)', fmt.mb(startRss), ''],
    ...result.samples.map((sample) => [
      `${sample.atSeconds} s${sample === result.warm ? ' (warm)' : ''}${sample === result.end ? ' (end)' : ''}`,
      fmt.mb(sample.rssMb),
      sample.heapUsedMb === undefined ? '?' : fmt.mb(sample.heapUsedMb),
      sample.requestsPerSecond === undefined ? '' : fmt.int(sample.requestsPerSecond),
    ]),
    [
      `${result.after.atSeconds} s (after the load)`,
      fmt.mb(result.after.rssMb),
      result.after.heapUsedMb === undefined ? '?' : fmt.mb(result.after.heapUsedMb),
      '',
    ],
  ];
  console.log(table(['time', 'RSS', 'heap used', 'req/s since the sample before'], rows));
  console.log('');
  const { warm, end } = result;
  const summary: string[][] = [];
  if (warm && end && end !== warm) {
    const growth = end.rssMb / warm.rssMb - 1;
    const errors = result.wrk.non2xx + result.wrk.socketErrors;
    summary.push([
      `RSS growth, ${warm.atSeconds} s → ${end.atSeconds} s`,
      `${fmt.mb(warm.rssMb)} → ${fmt.mb(end.rssMb)}: ${growth >= 0 ? '+' : ''}${fmt.pct(growth)}`,
      `< ${fmt.pct(AIMS.soakGrowth)}`,
      `${growth < AIMS.soakGrowth ? 'met' : 'NOT MET'}${errors > 0 ? ` (${errors} errors)` : ''}`,
    ]);
    if (warm.heapUsedMb !== undefined && end.heapUsedMb !== undefined) {
      const heapGrowth = end.heapUsedMb / warm.heapUsedMb - 1;
      summary.push([
        `heap used (a snapshot between GCs), ${warm.atSeconds} s → ${end.atSeconds} s`,
        `${fmt.mb(warm.heapUsedMb)} → ${fmt.mb(end.heapUsedMb)}: ${heapGrowth >= 0 ? '+' : ''}${fmt.pct(heapGrowth)}`,
        '(figure only)',
        '—',
      ]);
    }
  } else {
    summary.push([
      'RSS growth',
      'too short to tell: no sample after the warm-up',
      `< ${fmt.pct(AIMS.soakGrowth)}`,
      '—',
    ]);
  }
  // Rates exist only with samples after the warm-up, so after the RSS rows above.
  const { rates } = result;
  if (rates) {
    const kept = rates.second / rates.first;
    summary.push([
      "req/s after the warm-up, its second half's median against its first's",
      `${fmt.int(rates.first)} → ${fmt.int(rates.second)}: ${fmt.pct(kept)}`,
      `>= ${fmt.pct(AIMS.soakRate)}`,
      kept >= AIMS.soakRate ? 'met' : 'NOT MET',
    ]);
  }
  console.log('Summary');
  console.log(table(['measure', 'value', 'aim', 'met'], summary));
  console.log('');
  console.log(
    `Exit code after SIGTERM: full ${exitCode}. Soak took ${Math.round((performance.now() - session.began) / 1_000)} s.`,
  );
}

/** The default run: start-up, memory, HTTP scenarios, jobs. */
async function bench(session: Session) {
  const { database, redisPrefix, jwtSecret, running } = session;
  // 0. Seed: a user, their token, API key and items.
  const seeded = performance.now();
  const seed = await seedBenchData(database.url, jwtSecret);
  log(
    `seeded user ${seed.userId}, a JWT, an API key and ${seed.itemCount} items in ${fmt.ms(performance.now() - seeded)}`,
  );
  const { targets } = await buildTargets(database.url, redisPrefix, jwtSecret, seed.userId);

  // 1. Start-up: spawn to ready, alternating, each process stopped before the next. Every
  // target starts once before, unmeasured: that fills the compile cache (COMPILE_CACHE), so
  // each measured start and process is a restart, as in the image, whose cache is built in.
  // --ci looks only for gross regressions, in under a minute: no control. A server that only
  // a control loads is not started when the run has none.
  const all = scenarios(seed);
  const list = all.filter((scenario) => wanted(scenario.name) && !(CI && isControl(scenario)));
  const unused = new Set(
    all
      .filter((scenario) => isControl(scenario) && !list.includes(scenario))
      .flatMap((scenario) => scenario.variants.filter((v) => v.control).map((v) => v.app)),
  );
  const names = (Object.keys(targets) as AppName[]).filter((name) => !unused.has(name));
  for (const name of names) await (await startTarget(targets[name])).stop();
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
  // The upstream first: the full server's start-up above did not call it, its requests will.
  const apps = {} as Record<AppName, RunningTarget>;
  for (const name of ['upstream', ...names] as AppName[]) {
    if (apps[name]) continue;
    const app = await startTarget(targets[name]);
    running.push(app);
    apps[name] = app;
  }
  const fullAllocator = await allocatorOf(apps.full.pid);
  for (const app of [apps.full, apps.bare, apps['bare-items']]) {
    for (let index = 0; index < 20; index++) {
      await status(`${app.baseUrl}/livez`);
      await status(`${app.baseUrl}${app.target.readyPath}`);
    }
  }
  await sleep(1_000);
  const idle = {
    full: await apps.full.memory(),
    bare: await apps.bare.memory(),
    bareItems: await apps['bare-items'].memory(),
  };

  // 3. Throughput: every scenario, its variants in alternation, ROUNDS rounds each. The
  // order turns by one each round, so no variant always follows the same one.
  const warnings = await preflight(list, (variant) => apps[variant.app].baseUrl);
  for (const warning of warnings) log(`WARNING ${warning}`);
  const results: Measured[] = [];
  for (const scenario of list) {
    const measured = scenario.variants.map((variant) => ({
      scenario,
      variant,
      app: apps[variant.app],
      rounds: [] as WrkResult[],
      cpuPerRequestUs: [] as number[],
    }));
    for (const m of measured) {
      const spell = async () =>
        (await runWrk(m.app.baseUrl, m.variant.request, WARMUP)).requestsPerSecond;
      const rates = await warmUp(spell, WARM_UP);
      log(
        `${scenario.name} ${m.variant.label} warm-up: ${rates.map(fmt.int).join(' / ')} req/s, ${rates.length * WARMUP.durationSeconds} s`,
      );
    }
    for (let round = 0; round < ROUNDS; round++) {
      const turn = round % measured.length;
      for (const m of [...measured.slice(turn), ...measured.slice(0, turn)]) {
        const cpuBefore = await m.app.cpuSeconds();
        const result = await runWrk(m.app.baseUrl, m.variant.request, WRK);
        const cpuUs = ((await m.app.cpuSeconds()) - cpuBefore) * 1e6;
        m.rounds.push(result);
        m.cpuPerRequestUs.push(result.requests > 0 ? cpuUs / result.requests : NaN);
        log(
          `${scenario.name} ${m.variant.label} round ${round + 1}: ${fmt.int(result.requestsPerSecond)} req/s, ${fmt.us(m.cpuPerRequestUs.at(-1) ?? NaN)} CPU a request, p99 ${fmt.ms(result.p99Ms)}${result.non2xx + result.socketErrors > 0 ? `, ${result.non2xx} non-2xx, ${result.socketErrors} socket errors` : ''}`,
        );
      }
    }
    results.push(...measured);
  }
  // Latency of the gateway, one request at a time, against the upstream called directly.
  let latency: LatencyFigures[] = [];
  if (wanted('chat')) {
    latency = await measureGatewayLatency(
      [
        {
          label: 'upstream direct',
          url: `${apps.upstream.baseUrl}/v1/chat/completions`,
          headers: {},
        },
        {
          label: 'bare proxy',
          url: `${apps['bare-proxy'].baseUrl}/v1/chat/completions`,
          headers: {},
        },
        {
          label: 'gateway + key',
          url: `${apps.full.baseUrl}/v1/chat/completions`,
          headers: { authorization: `Bearer ${seed.apiKey}` },
        },
      ],
      BENCH_MODEL,
      LATENCY,
    );
  }
  // The servers rest, idle, while the jobs and the AI module are measured in this process; their
  // RSS is read once they have rested long enough for the full server to hand back what the
  // load made V8 hold (decision 069).
  const loadEnded = performance.now();

  // 4. Jobs: in this process, the HTTP servers idle.
  let jobRuns: JobsRun[] = [];
  if (wanted('jobs')) {
    jobRuns = await benchJobs({
      redisUrl: TEST_REDIS_URL,
      databaseUrl: database.url,
      jwtSecret,
      prefix: session.jobsPrefix,
      count: JOBS.count,
      rounds: JOBS.rounds,
      concurrencies: JOBS.concurrencies,
    });
    await deleteRedisKeys(session.jobsPrefix);
  }
  const jobs = summarizeJobs(jobRuns);
  // The AI module's batches and retrieval, in this process too.
  const ai = await benchAi({
    batch: wanted('batch'),
    retrieval: wanted('retrieval'),
    databaseUrl: database.url,
    redisUrl: TEST_REDIS_URL,
    prefix: `${session.jobsPrefix}ai:`,
    jwtSecret,
  });

  await sleep(Math.max(0, loadEnded + AFTER_LOAD_REST_MS - performance.now()));
  const loaded = {
    full: await apps.full.memory(),
    bare: await apps.bare.memory(),
    bareItems: await apps['bare-items'].memory(),
  };
  const logBytes = apps.full.stdoutBytes() + apps.open.stdoutBytes();
  const exitCodes: Partial<Record<AppName, number | null>> = {};
  for (const name of Object.keys(apps) as AppName[]) exitCodes[name] = await apps[name].stop();

  // 5. Report.
  const machine = describeMachine(session.loadBefore);
  console.log('');
  console.log('Benchmark');
  console.log(machine.line);
  console.log(
    `  HTTP: wrk -t${WRK.threads} -c${WRK.connections} -d${WRK.durationSeconds}s --latency, ${ROUNDS} rounds (median), variants alternating within each round (order turned each round), after a warm-up each: ${WARMUP.durationSeconds} s spells until ${WARM_UP.settled} in a row are no more than ${WARM_UP.rise * 100}% above the best before them, at least ${Math.min(WARM_UP.minSeconds, WARM_UP.maxSeconds)} s, at most ${WARM_UP.maxSeconds} s`,
  );
  console.log(
    `${describeFull(targets.full, fullAllocator)}, LOG_LEVEL=info, LOG_FORMAT=json to a pipe the bench drains (${fmt.mb(logBytes / 1e6)} of log read, with open); PostgreSQL + Redis local, ${DATABASE_POOL_MAX} connections a pool (DATABASE_POOL_MAX)`,
  );
  console.log(
    `  open: ${targets.open.entry}: the full app built as src/server.ts does, with auth: actAs(seeded user, role user, items:read items:write)`,
  );
  console.log(
    `  bare: ${targets.bare.entry}: hono + @hono/node-server, GET /livez, no middleware, no logging`,
  );
  console.log(
    `  bare-items: ${targets['bare-items'].entry}: hono + postgres.js (pool ${DATABASE_POOL_MAX}, as the full app), the service's SQL text, owner from env, no auth/logging/validation; bare-items-again: the same program in a second process, the item read's control`,
  );
  console.log(
    `  bare-proxy: ${targets['bare-proxy'].entry}: hono + fetch, POST /v1/chat/completions passed through to the upstream, its body streamed back`,
  );
  console.log(
    `  upstream: ${targets.upstream.entry}: node:http, an OpenAI-compatible chat endpoint answering at once (8 content pieces, usage), for the full server's gateway and bare-proxy alike`,
  );
  console.log(
    `  every server but full and upstream is started with --import ./src/preload.ts; seeded: 1 user, 1 JWT, 1 API key (every scope of the role: ${seed.scopes.join(' ')}), ${fmt.int(seed.itemCount)} items`,
  );
  console.log('');

  const startFull = median(startup.full ?? []);
  const startBare = median(startup.bare ?? []);
  const rssRatio = loaded.full.rssMb / loaded.bareItems.rssMb;
  // Two servers compared after the same load: not when this run's scenarios gave bare-items
  // none (BENCH_ONLY without an item scenario), as its idle size would stand in for it.
  const rssCompared = results.some((m) => m.app.target.name === 'bare-items');
  const rssMet = rssRatio <= AIMS.loadedRss;
  console.log(
    table(
      ['measure', 'full', 'bare', 'bare-items', 'aim (full)', 'met'],
      [
        [
          `start-up to ready (median of ${STARTUP_RUNS})`,
          fmt.ms(startFull),
          fmt.ms(startBare),
          '',
          `< ${fmt.ms(AIMS.startupMs)}`,
          startFull < AIMS.startupMs ? 'yes' : 'NO',
        ],
        [
          'idle RSS',
          fmt.mb(idle.full.rssMb),
          fmt.mb(idle.bare.rssMb),
          fmt.mb(idle.bareItems.rssMb),
          `< ${AIMS.idleRssMb} MB`,
          idle.full.rssMb < AIMS.idleRssMb ? 'yes' : 'NO',
        ],
        [
          'RSS after the bench',
          fmt.mb(loaded.full.rssMb),
          fmt.mb(loaded.bare.rssMb),
          fmt.mb(loaded.bareItems.rssMb),
          `<= ${fmt.times(AIMS.loadedRss)} bare-items`,
          rssCompared ? (rssMet ? 'yes' : 'NO') : 'n/a',
        ],
        [
          'peak RSS',
          fmt.mb(loaded.full.peakMb),
          fmt.mb(loaded.bare.peakMb),
          fmt.mb(loaded.bareItems.peakMb),
          '',
          '',
        ],
      ],
    ),
  );
  console.log(
    `  (ready: full = first 200 on GET /readyz, database and Redis checked; bare = first 200 on GET /livez. RSS after the bench: ${AFTER_LOAD_REST_MS / 1_000} s after the last HTTP scenario, before the servers stop)`,
  );
  console.log(`  ${describeReleases(apps.full.keptLines())}`);
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
      fmt.ms(p99(m)),
      m.rounds.map((round) => fmt.int(round.requestsPerSecond)).join(' / '),
      fmt.int(m.rounds.reduce((sum, round) => sum + round.non2xx, 0)),
      fmt.int(m.rounds.reduce((sum, round) => sum + round.socketErrors, 0)),
      ratio ? `${fmt.pct(ratio.value)} of ${m.scenario.baseline}` : '',
      ratio ? ratio.perRound.map(fmt.pct).join(' / ') : '',
      ratio ? fmt.times(ratio.p99) : '',
      m.cpuPerRequestUs.map(fmt.us).join(' / '),
      ratio ? fmt.pct(ratio.cpu) : '',
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
        'rounds CPU/req',
        'CPU ratio',
      ],
      rows,
    ),
  );
  for (const scenario of list) {
    if (scenario.note) console.log(`  ${scenario.name}: ${scenario.note}`);
  }
  console.log(
    "  (p50 and p99: median over the rounds of each round's wrk percentile; req/s ratio: of the medians; per round: each round against the baseline's same round; CPU/req: the server's CPU time over the round (every thread, from /proc) by its requests; CPU ratio: the baseline's median CPU a request over the variant's, the rate ratio a server with a core to itself would show)",
  );
  for (const warning of warnings) console.log(`  WARNING ${warning}`);
  console.log('');

  if (latency.length > 0) {
    const direct = latency[0];
    const added = (figures: LatencyFigures, kind: 'completion' | 'firstToken') =>
      direct
        ? `+${fmt.ms(figures[kind].p50 - direct[kind].p50)} / +${fmt.ms(figures[kind].p99 - direct[kind].p99)}`
        : '';
    console.log(
      table(
        [
          'gateway latency',
          'answer p50',
          'answer p99',
          'added p50 / p99',
          'first token p50',
          'first token p99',
          'added p50 / p99',
          'rounds p50 (answer; first token)',
        ],
        latency.map((figures) => [
          figures.label,
          fmt.ms(figures.completion.p50),
          fmt.ms(figures.completion.p99),
          figures === direct ? '' : added(figures, 'completion'),
          fmt.ms(figures.firstToken.p50),
          fmt.ms(figures.firstToken.p99),
          figures === direct ? '' : added(figures, 'firstToken'),
          `${figures.rounds.completionP50.map(fmt.ms).join(' / ')}; ${figures.rounds.firstTokenP50.map(fmt.ms).join(' / ')}`,
        ]),
      ),
    );
    console.log(
      `  ${LATENCY.rounds} rounds of ${LATENCY.requests} requests of each kind per target (median of the rounds' percentiles) after ${LATENCY.warmup} of warm-up, one at a time over one keep-alive connection each, the targets taking turns; answer: a non-streamed completion, sent to its last byte; first token: a streamed one, sent to its first content delta; added: less upstream direct's figure`,
    );
    console.log('');
  }

  if (jobs.length > 0) {
    const jobRows: string[][] = [];
    for (const row of jobs) {
      for (const [variant, runs, rate] of [
        ['defineJob + worker', row.template, row.templateRate],
        ['raw BullMQ', row.raw, row.rawRate],
      ] as const) {
        jobRows.push([
          String(row.concurrency),
          variant,
          fmt.int(rate),
          runs.map((run) => fmt.int(run.jobsPerSecond)).join(' / '),
          fmt.int(median(runs.map((run) => run.enqueuePerSecond))),
          variant === 'raw BullMQ' ? '' : `${fmt.pct(row.ratio)} of raw`,
        ]);
      }
    }
    console.log(
      table(['concurrency', 'variant', 'jobs/s', 'rounds jobs/s', 'enqueued/s', 'ratio'], jobRows),
    );
    console.log(
      `  ${fmt.int(JOBS.count)} jobs per run, ${JOBS.rounds} rounds (median), variants alternating, after a warm-up of ${fmt.int(WARMUP_JOBS)} unmeasured jobs of each variant at each concurrency (steady state, as a long-lived worker runs); all enqueued first, then timed from starting the worker until every job has run and none is waiting or active. Same Redis, same job options (attempts, backoff, removeOnComplete/Fail from defineJob's defaults), one worker in this process`,
    );
    console.log(
      '  defineJob + worker: bullmqJobQueue (src/core/jobs/bullmq-queue.ts) enqueue (zod, uuidv7 id, Queue.add), startWorker (runJobOnce: zod again, AbortSignal, child logger, metrics, a span when tracing is on; job events are BullMQ’s own stream, decision 035); raw: Queue.addBulk, Worker(processor returning job.data.n)',
    );
    console.log('');
  }
  for (const line of ai.lines) console.log(line);

  // 6. Summary: every scenario, its ratio and its aim; and, for --ci, what is off by more
  // than a factor of two (a ratio under half its aim, a time or size over twice its bound).
  const gross: string[] = [];
  const advisory: string[] = [];
  const grossUnless = (ok: boolean, what: string) => {
    if (!ok) gross.push(what);
  };
  grossUnless(startFull <= 2 * AIMS.startupMs, `start-up ${fmt.ms(startFull)}`);
  grossUnless(idle.full.rssMb <= 2 * AIMS.idleRssMb, `idle RSS ${fmt.mb(idle.full.rssMb)}`);
  grossUnless(
    !rssCompared || rssRatio <= 2 * AIMS.loadedRss,
    `RSS after the bench ${fmt.times(rssRatio)}`,
  );
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
    [
      'RSS after the bench',
      'full / bare-items',
      rssCompared
        ? `${fmt.times(rssRatio)} (${fmt.mb(loaded.full.rssMb)} / ${fmt.mb(loaded.bareItems.rssMb)})`
        : 'not compared: no scenario of this run loaded bare-items',
      `<= ${fmt.times(AIMS.loadedRss)}`,
      rssCompared ? (rssMet ? 'met' : 'NOT MET') : 'n/a',
    ],
  ];
  for (const scenario of list) {
    const measured = results.filter((m) => m.scenario === scenario);
    const errors = measured.reduce((sum, m) => sum + unexpectedErrors(m), 0);
    // Errors where none belong make the figures meaningless: no aim is met with them.
    const verdict = (met: boolean) =>
      errors > 0 ? `NOT MET (${errors} errors)` : met ? 'met' : 'NOT MET';
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
      grossUnless(errors === 0, `${scenario.name}: ${errors} errors`);
      if (m.variant.control) {
        summary.push([
          scenario.name,
          `${m.variant.label} / ${scenario.baseline} req/s`,
          `${fmt.pct(ratio.value)} (rounds ${ratio.perRound.map(fmt.pct).join(' / ')})`,
          '(the same program: noise)',
          errors > 0 ? `${errors} errors` : '—',
        ]);
        continue;
      }
      // See ADVISORY_IN_CI: told, not failed.
      const check = ADVISORY_IN_CI.has(scenario.name)
        ? (ok: boolean, what: string) => {
            if (!ok) advisory.push(what);
          }
        : grossUnless;
      if (scenario.aim !== undefined) {
        check(ratio.value >= scenario.aim / 2, `${scenario.name} ${fmt.pct(ratio.value)}`);
      }
      if (scenario.p99Aim !== undefined) {
        check(ratio.p99 <= 2 * scenario.p99Aim, `${scenario.name} p99 ${fmt.times(ratio.p99)}`);
      }
      summary.push([
        scenario.name,
        `${m.variant.label} / ${scenario.baseline} req/s`,
        fmt.pct(ratio.value),
        scenario.aim === undefined ? '(figure only)' : `>= ${fmt.pct(scenario.aim)}`,
        scenario.aim === undefined
          ? errors > 0
            ? `${errors} errors`
            : '—'
          : verdict(ratio.value >= scenario.aim),
      ]);
      if (scenario.p99Aim !== undefined) {
        summary.push([
          scenario.name,
          `${m.variant.label} / ${scenario.baseline} p99`,
          `${fmt.times(ratio.p99)} (${fmt.ms(p99(m))})`,
          `<= ${fmt.times(scenario.p99Aim)}`,
          verdict(ratio.p99 <= scenario.p99Aim),
        ]);
      }
    }
  }
  for (const row of jobs) {
    grossUnless(row.ratio >= AIMS.jobs / 2, `jobs at ${row.concurrency} ${fmt.pct(row.ratio)}`);
    summary.push([
      `jobs, concurrency ${row.concurrency}`,
      'defineJob / raw BullMQ jobs/s',
      `${fmt.pct(row.ratio)} (${fmt.int(row.templateRate)} / ${fmt.int(row.rawRate)})`,
      `>= ${fmt.pct(AIMS.jobs)}`,
      row.ratio >= AIMS.jobs ? 'met' : 'NOT MET',
    ]);
  }
  const direct = latency[0];
  const gateway = latency.find((figures) => figures.label === 'gateway + key');
  if (direct && gateway) {
    for (const [kind, what] of [
      ['completion', 'added p50, not streamed'],
      ['firstToken', 'added p50 to the first token, streamed'],
    ] as const) {
      const value = gateway[kind].p50 - direct[kind].p50;
      summary.push([
        'AI gateway latency',
        what,
        fmt.ms(value),
        `< ${fmt.ms(AIMS.gatewayAddedMs)}`,
        value < AIMS.gatewayAddedMs ? 'met' : 'NOT MET',
      ]);
    }
  }
  summary.push(...ai.summary);
  console.log('Summary');
  console.log(table(['scenario', 'measure', 'value', 'aim', 'met'], summary));
  console.log('');
  console.log(
    `Exit codes after SIGTERM: ${Object.entries(exitCodes)
      .map(([name, code]) => `${name} ${code}`)
      .join(', ')}. Bench took ${Math.round((performance.now() - session.began) / 1_000)} s.`,
  );
  if (CI) {
    if (advisory.length > 0) {
      console.log(
        `CI (not failing: too near its floor on this machine, decision 050): ${advisory.join('; ')}`,
      );
    }
    if (gross.length === 0) {
      console.log('CI: no figure is off its aim by more than a factor of two.');
    } else {
      console.log(`CI: off their aims by more than a factor of two: ${gross.join('; ')}`);
      process.exitCode = 1;
    }
  }
}

async function main() {
  const wrk = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (wrk.error) throw new Error('wrk is not installed (apt-get install wrk)');
  // The full server runs from the production bundle, built as `npm start` builds it.
  await buildBundle();
  const session: Session = {
    database: await createTestDatabase(),
    redisPrefix: `bench:${randomBytes(6).toString('hex')}:`,
    jobsPrefix: `bench-jobs:${randomBytes(6).toString('hex')}:`,
    jwtSecret: randomBytes(32).toString('hex'),
    running: [],
    began: performance.now(),
    loadBefore: loadavg()[0] ?? 0,
  };
  const cleanUp = async () => {
    await Promise.allSettled(session.running.map((app) => app.stop()));
    await Promise.allSettled([
      session.database.drop(),
      deleteRedisKeys(session.redisPrefix),
      deleteRedisKeys(session.jobsPrefix),
    ]);
  };
  // Ctrl-C: still drop the bench database and the Redis keys.
  process.once('SIGINT', () => {
    void cleanUp().finally(() => process.exit(130));
  });
  try {
    if (SOAK.on) await soak(session);
    else if (COUNTS) await counts(session);
    else await bench(session);
  } finally {
    await cleanUp();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
