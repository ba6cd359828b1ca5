import type { Histogram } from 'prom-client';

type Labels = 'method' | 'route' | 'status';

/**
 * A histogram's children by method, route and status, looked up once per combination: an
 * `observe` with a label object looks its series up each time, which costs some 25 times the
 * observation itself (decision 083). The combinations are bounded by the routes and statuses
 * the app answers with ('unmatched' stands for any path no route matched).
 */
export class LabelledChildren {
  readonly #histogram: Histogram<Labels>;
  readonly #children = new Map<string, ReturnType<Histogram<Labels>['labels']>>();

  constructor(histogram: Histogram<Labels>) {
    this.#histogram = histogram;
  }

  get(method: string, route: string, status: number) {
    const key = `${method} ${status} ${route}`;
    let child = this.#children.get(key);
    if (!child) {
      child = this.#histogram.labels({ method, route, status: String(status) });
      this.#children.set(key, child);
    }
    return child;
  }
}
