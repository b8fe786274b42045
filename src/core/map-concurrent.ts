/** Streaming bounded concurrency: results are yielded as they finish, the source is pulled only as fast as it is consumed. */
export async function* mapConcurrent<T, R>(source: AsyncIterable<T>, limit: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const iterator = source[Symbol.asyncIterator]();
  const running = new Map<number, Promise<{ key: number; result: R }>>();
  let next = 0;
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && running.size < limit) {
        const step = await iterator.next();
        if (step.done) {
          exhausted = true;
          break;
        }
        const key = next++;
        running.set(key, fn(step.value).then((result) => ({ key, result })));
      }
      if (running.size === 0) return;
      const { key, result } = await Promise.race(running.values());
      running.delete(key);
      yield result;
    }
  } finally {
    if (!exhausted) await iterator.return?.();
    // Let work already started settle so nothing runs on after the consumer stopped.
    await Promise.allSettled(running.values());
  }
}
