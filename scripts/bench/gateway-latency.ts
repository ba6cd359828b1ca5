/**
 * Latency of the AI gateway in `npm run bench`, one request at a time so no queue stands in
 * the figures: the whole answer of a non-streamed chat completion, and the time to the
 * first token of a streamed one (the first content delta read from the stream), for each
 * target in alternation, request after request, over one keep-alive connection each. What
 * the gateway adds is its figure less the upstream's, called directly in the same run.
 */
import { Agent, request } from 'node:http';
import { median, percentile } from './report.ts';

export interface LatencyTarget {
  label: string;
  /** The chat completions URL. */
  url: string;
  headers: Record<string, string>;
}

export interface LatencyFigures {
  label: string;
  /** Non-streamed: status line to the end of the body. Medians of the rounds' percentiles. */
  completion: { p50: number; p99: number };
  /** Streamed: request sent to the first content delta read. */
  firstToken: { p50: number; p99: number };
  /** Each round's p50, as `completion` and `firstToken` take their median of them. */
  rounds: { completionP50: number[]; firstTokenP50: number[] };
}

/** Text that only a content delta of the bench upstream's first piece holds. */
const FIRST_CONTENT = '"content":"word0';

function timed(
  agent: Agent,
  target: LatencyTarget,
  body: string,
  until: 'end' | 'first-token',
): Promise<number> {
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const req = request(
      target.url,
      {
        method: 'POST',
        agent,
        headers: {
          ...target.headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`${target.label}: status ${res.statusCode}`));
          res.resume();
          return;
        }
        let seen = '';
        let firstToken: number | undefined;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (until !== 'first-token' || firstToken !== undefined) return;
          seen += chunk;
          if (seen.includes(FIRST_CONTENT)) firstToken = performance.now() - began;
        });
        res.on('end', () => {
          if (until === 'end') resolve(performance.now() - began);
          else if (firstToken !== undefined) resolve(firstToken);
          else reject(new Error(`${target.label}: the stream held no content delta`));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * `rounds` rounds of `requests` of each kind per target, after `warmup` of each; the targets
 * take turns request by request so a pause of the machine falls on all of them alike, and
 * each figure is the median of the rounds' (as the throughput's), so one slow stretch of a
 * noisy machine does not decide it.
 */
export async function measureGatewayLatency(
  targets: LatencyTarget[],
  model: string,
  { requests, warmup, rounds }: { requests: number; warmup: number; rounds: number },
): Promise<LatencyFigures[]> {
  const messages = [{ role: 'user', content: 'Say something short about benchmarks.' }];
  const plain = JSON.stringify({ model, messages });
  const streamed = JSON.stringify({
    model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  const agents = targets.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
  const perRound = targets.map(() => ({
    completion: [] as { p50: number; p99: number }[],
    firstToken: [] as { p50: number; p99: number }[],
  }));
  try {
    for (let round = -1; round < rounds; round++) {
      // Round -1 is the warm-up, its samples dropped.
      const count = round < 0 ? warmup : requests;
      const samples = targets.map(() => ({
        completion: [] as number[],
        firstToken: [] as number[],
      }));
      for (let index = 0; index < count; index++) {
        for (const [position, target] of targets.entries()) {
          const agent = agents[position] as Agent;
          samples[position]?.completion.push(await timed(agent, target, plain, 'end'));
          samples[position]?.firstToken.push(await timed(agent, target, streamed, 'first-token'));
        }
      }
      if (round < 0) continue;
      for (const [position, { completion, firstToken }] of samples.entries()) {
        perRound[position]?.completion.push(percentiles(completion));
        perRound[position]?.firstToken.push(percentiles(firstToken));
      }
    }
  } finally {
    for (const agent of agents) agent.destroy();
  }
  return targets.map((target, position) => {
    const { completion, firstToken } = perRound[position] ?? { completion: [], firstToken: [] };
    return {
      label: target.label,
      completion: medians(completion),
      firstToken: medians(firstToken),
      rounds: {
        completionP50: completion.map((figures) => figures.p50),
        firstTokenP50: firstToken.map((figures) => figures.p50),
      },
    };
  });
}

function percentiles(samples: number[]): { p50: number; p99: number } {
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

function medians(rounds: { p50: number; p99: number }[]): { p50: number; p99: number } {
  return {
    p50: median(rounds.map((figures) => figures.p50)),
    p99: median(rounds.map((figures) => figures.p99)),
  };
}
