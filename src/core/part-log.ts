/**
 * An append-only list of parts in process memory that any number of readers read from the
 * first, each at its own pace, until it ends or fails. Single flights keep what a leader
 * published in one, so a follower that arrives late still gets every part.
 *
 * @example
 * const log = new PartLog();
 * log.append('a');
 * log.end();
 * for await (const part of log.read(signal)) console.log(part); // 'a'
 */
export class PartLog {
  readonly #parts: string[] = [];
  #ended = false;
  #failure: Error | undefined;
  readonly #waiting = new Set<() => void>();

  /** Whether the log has ended or failed: nothing more comes. */
  get done(): boolean {
    return this.#ended || this.#failure !== undefined;
  }

  /** Adds a part; ignored once the log is done. */
  append(part: string): void {
    if (this.done) return;
    this.#parts.push(part);
    this.#wake();
  }

  /** Ends the log: readers stop after the last part. */
  end(): void {
    if (this.done) return;
    this.#ended = true;
    this.#wake();
  }

  /** Fails the log: readers throw `error` after the parts that came before it. */
  fail(error: Error): void {
    if (this.done) return;
    this.#failure = error;
    this.#wake();
  }

  /**
   * Every part from the first, as they come. Ends with the log, throws its failure, and
   * rejects with `signal.reason` as soon as the signal aborts, even while waiting.
   */
  async *read(signal?: AbortSignal): AsyncGenerator<string, void, undefined> {
    for (let next = 0; ; ) {
      signal?.throwIfAborted();
      const part = this.#parts[next];
      if (part !== undefined) {
        next += 1;
        yield part;
      } else if (this.#ended) {
        return;
      } else if (this.#failure) {
        throw this.#failure;
      } else {
        await this.#changed(signal);
      }
    }
  }

  #wake(): void {
    for (const resume of this.#waiting) resume();
    this.#waiting.clear();
  }

  /** Resolves at the next change, or rejects when `signal` aborts first. */
  #changed(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#waiting.delete(resume);
        reject(signal?.reason);
      };
      const resume = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.#waiting.add(resume);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
