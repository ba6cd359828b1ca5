/**
 * Latency of the AI gateway in `npm run bench`, one request at a time so no queue stands in
 * the figures: the whole answer of a non-streamed chat completion, and the time to the
 * first token of a streamed one (the first content delta read from the stream), for each
 * target in alternation, request after request, over one keep-alive connection each. What
 * the gateway adds is its figure less the upstream's, called directly in the same run.
 */
import { Agent, request } from 'node:http';
import { percentile } from './report.ts';

export interface LatencyTarget {
  label: string;
  /** The chat completions URL. */
  url: string;
  headers: Record<string, string>;
}

export interface LatencyFigures {
  label: string;
  /** Non-streamed: status line to the end of the body. */
  completion: { p50: number; p99: number };
  /** Streamed: request sent to the first content delta read. */
  firstToken: { p50: number; p99: number };
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
 * `requests` of each kind per target after `warmup`, the targets taking turns request by
 * request so a pause of the machine falls on all of them alike.
 */
export async function measureGatewayLatency(
  targets: LatencyTarget[],
  model: string,
  { requests, warmup }: { requests: number; warmup: number },
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
  const samples = targets.map(() => ({ completion: [] as number[], firstToken: [] as number[] }));
  try {
    for (let index = 0; index < warmup + requests; index++) {
      for (const [position, target] of targets.entries()) {
        const agent = agents[position] as Agent;
        const completion = await timed(agent, target, plain, 'end');
        const firstToken = await timed(agent, target, streamed, 'first-token');
        if (index < warmup) continue;
        samples[position]?.completion.push(completion);
        samples[position]?.firstToken.push(firstToken);
      }
    }
  } finally {
    for (const agent of agents) agent.destroy();
  }
  return targets.map((target, position) => {
    const { completion, firstToken } = samples[position] ?? { completion: [], firstToken: [] };
    return {
      label: target.label,
      completion: { p50: percentile(completion, 0.5), p99: percentile(completion, 0.99) },
      firstToken: { p50: percentile(firstToken, 0.5), p99: percentile(firstToken, 0.99) },
    };
  });
}
