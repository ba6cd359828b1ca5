/** Figures and tables as `npm run bench` prints them. */

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export const fmt = {
  ms: (value: number) => (value < 10 ? `${value.toFixed(2)} ms` : `${Math.round(value)} ms`),
  us: (value: number) => `${value.toFixed(1)} µs`,
  int: (value: number) => Math.round(value).toLocaleString('en-US'),
  mb: (value: number) => `${value.toFixed(1)} MB`,
  pct: (value: number) => `${(value * 100).toFixed(1)}%`,
  times: (value: number) => `${value.toFixed(2)}×`,
};

export function table(header: string[], rows: string[][]): string {
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

export function log(text: string) {
  console.log(`[bench] ${text}`);
}

export function positiveInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}: a positive integer`);
  return value;
}

/** The nearest-rank percentile (0 < share <= 1) of the values; NaN for none. */
export function percentile(values: number[], share: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)] as number;
}
