/**
 * Gathers the calls made in one turn of the event loop and runs them together at its end
 * (`setImmediate`), each caller getting its own answer. For Redis commands every request
 * sends: each command is a write of its own and wakes Redis once more (decision 046), and
 * Node runs the requests read from different sockets in different ticks of a turn, so only a
 * batch per turn gathers them (ioredis' auto-pipelining, once a tick, did not; decision 093).
 *
 * `run` answers the inputs in their order; should it throw, every caller of the batch gets
 * the error. With `alone`, each call is a batch of its own, at once: for a Redis Cluster,
 * where one command may touch keys of one hash slot only.
 *
 * @example
 * const forget = perTurn((keys: string[]) => redis.del(...keys).then(() => keys.map(() => undefined)));
 * await forget('cache:a'); // with every other key forgotten in this turn, in one DEL
 */
export function perTurn<In, Out>(
  run: (inputs: In[]) => Promise<Out[]>,
  options: { alone?: boolean } = {},
): (input: In) => Promise<Out> {
  let pending: { input: In; resolve(output: Out): void; reject(error: unknown): void }[] = [];
  const flush = () => {
    const batch = pending;
    pending = [];
    let outputs: Promise<Out[]>;
    try {
      outputs = run(batch.map((call) => call.input));
    } catch (error) {
      outputs = Promise.reject(error);
    }
    outputs.then(
      (answers) => {
        for (const [index, answer] of answers.entries()) batch[index]?.resolve(answer);
        for (const call of batch.slice(answers.length))
          call.reject(new Error(`A batch of ${batch.length} got ${answers.length} answers`));
      },
      (error: unknown) => {
        for (const call of batch) call.reject(error);
      },
    );
  };
  return (input) =>
    new Promise<Out>((resolve, reject) => {
      if (pending.push({ input, resolve, reject }) > 1) return;
      if (options.alone) flush();
      else setImmediate(flush);
    });
}
