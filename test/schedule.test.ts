import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { retryWithBackoff, type KeyedResult } from '../src/core/schedule.js';
import { collectKeyed } from './helpers/keyed.js';

interface Job {
  id: string;
  key: string;
  ms: number;
}

/** Records what ran when, and checks the two invariants while it runs. */
function tracker() {
  const activeKeys = new Map<string, number>();
  let active = 0;
  let maxActive = 0;
  const log: string[] = [];
  const violations: string[] = [];
  const worker = async (job: Job): Promise<string> => {
    active++;
    maxActive = Math.max(maxActive, active);
    const n = (activeKeys.get(job.key) ?? 0) + 1;
    activeKeys.set(job.key, n);
    if (n > 1) violations.push(`${job.id}: ${n} workers on key ${job.key}`);
    log.push(`start ${job.id}`);
    await sleep(job.ms);
    log.push(`end ${job.id}`);
    activeKeys.set(job.key, (activeKeys.get(job.key) ?? 1) - 1);
    active--;
    return `ok ${job.id}`;
  };
  return { worker, log, violations, maxActive: () => maxActive };
}

const jobs = (spec: string): Job[] =>
  spec.split(' ').map((id, i) => ({ id, key: id.replace(/\d+$/, ''), ms: 15 + ((i * 7) % 20) }));

const keyOf = (job: Job): string => job.key;

describe('runKeyed', () => {
  it('never exceeds the concurrency and reaches it', async () => {
    const t = tracker();
    const items = Array.from({ length: 20 }, (_, i) => ({ id: `k${i}x`, key: `k${i}`, ms: 20 }));
    const results = await collectKeyed(items, { concurrency: 3, keyOf }, t.worker);
    expect(t.maxActive()).toBe(3);
    expect(results.map((r) => r.status)).toEqual(Array(20).fill('done'));
    expect(results.map((r) => r.index)).toEqual([...Array(20).keys()]);
  });

  it('never runs two items of one key at once, in arrival order per key, without blocking other keys', async () => {
    const t = tracker();
    const items = jobs('a1 a2 a3 b1 a4 b2 c1 c2 c3 d1 a5');
    const results = await collectKeyed(items, { concurrency: 4, keyOf }, t.worker);
    expect(t.violations).toEqual([]);
    expect(t.maxActive()).toBeLessThanOrEqual(4);
    for (const key of ['a', 'b', 'c']) {
      const starts = t.log.filter((l) => l.startsWith(`start ${key}`));
      expect(starts).toEqual([...starts].sort());
    }
    // b1 and c1 do not wait for the a's queued ahead of them.
    expect(t.log.indexOf('start b1')).toBeLessThan(t.log.indexOf('end a1'));
    expect(t.log.indexOf('start c1')).toBeLessThan(t.log.indexOf('end a1'));
    expect(results.map((r) => (r.status === 'done' ? r.value : r.status))).toEqual(items.map((j) => `ok ${j.id}`));
  });

  it('with many items on one key, uses free slots for the others', async () => {
    const t = tracker();
    const items = [...jobs('a1 a2 a3 a4 a5 a6'), ...jobs('b1 c1 d1 e1')];
    const started = performance.now();
    await collectKeyed(items, { concurrency: 2, keyOf }, t.worker);
    expect(t.violations).toEqual([]);
    // Waiting a's hold no slot: a2 joins the queue only when a1 ends, behind b..e, which all run meanwhile.
    expect(t.log.indexOf('end e1')).toBeLessThan(t.log.indexOf('end a4'));
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('starts items from an async iterable as soon as they arrive', async () => {
    const t = tracker();
    async function* produce(): AsyncGenerator<Job> {
      t.log.push('yield p1');
      yield { id: 'p1', key: 'p', ms: 10 };
      await sleep(80);
      t.log.push('yield q1');
      yield { id: 'q1', key: 'q', ms: 10 };
      t.log.push('yield p2');
      yield { id: 'p2', key: 'p', ms: 10 };
    }
    const results = await collectKeyed(produce(), { concurrency: 2, keyOf }, t.worker);
    expect(t.log.slice(0, 4)).toEqual(['yield p1', 'start p1', 'end p1', 'yield q1']);
    expect(results.map((r) => r.item.id)).toEqual(['p1', 'q1', 'p2']);
    expect(t.violations).toEqual([]);
  });

  it('turns a throwing worker into a failed result and goes on', async () => {
    const results = await collectKeyed(jobs('a1 a2 b1'), { concurrency: 2, keyOf }, async (job) => {
      if (job.id === 'a1') throw new Error('boom');
      return job.id;
    });
    expect(results.map((r) => r.status)).toEqual(['failed', 'done', 'done']);
    expect((results[0] as Extract<KeyedResult<Job, string>, { status: 'failed' }>).error).toEqual(new Error('boom'));
  });

  it('on abort starts nothing new, reports the rest canceled at once, and waits for running workers', async () => {
    const ac = new AbortController();
    const seen: string[] = [];
    const t = tracker();
    const items = jobs('a1 b1 a2 c1 d1 e1').map((j) => ({ ...j, ms: 100 }));
    const running = collectKeyed(items, { concurrency: 2, keyOf, signal: ac.signal }, t.worker, (r) =>
      seen.push(`${r.status} ${r.item.id}`),
    );
    await sleep(30);
    ac.abort();
    // Canceled results are reported before the running workers end.
    expect(seen.sort()).toEqual(['canceled a2', 'canceled c1', 'canceled d1', 'canceled e1']);
    const results = await running;
    expect(results.map((r) => `${r.status} ${r.item.id}`)).toEqual([
      'done a1', 'done b1', 'canceled a2', 'canceled c1', 'canceled d1', 'canceled e1',
    ]);
    expect(t.log.filter((l) => l.startsWith('start'))).toEqual(['start a1', 'start b1']);
  });

  it('stops pulling from an async iterable on abort, even while it is waiting', async () => {
    const ac = new AbortController();
    let release: () => void = () => {};
    let closed = false;
    async function* produce(): AsyncGenerator<Job> {
      try {
        yield { id: 'a1', key: 'a', ms: 10 };
        await new Promise<void>((resolve) => (release = resolve)); // an exporter stuck on a slow disk
        yield { id: 'never', key: 'n', ms: 10 };
      } finally {
        closed = true;
      }
    }
    setTimeout(() => ac.abort(), 60);
    const started = performance.now();
    const results = await collectKeyed(produce(), { concurrency: 2, keyOf, signal: ac.signal }, tracker().worker);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(results.map((r) => `${r.status} ${r.item.id}`)).toEqual(['done a1']);
    release();
    await sleep(10);
    expect(closed).toBe(true);
  });

  it('cancels everything when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    const t = tracker();
    const results = await collectKeyed(jobs('a1 b1'), { concurrency: 2, keyOf, signal: ac.signal }, t.worker);
    expect(results.map((r) => `${r.status} ${r.item.id}`)).toEqual(['canceled a1', 'canceled b1']);
    expect(t.log).toEqual([]);
  });

  it('rethrows an iterable error after running workers settle', async () => {
    const t = tracker();
    async function* produce(): AsyncGenerator<Job> {
      yield { id: 'a1', key: 'a', ms: 50 };
      yield { id: 'a2', key: 'a', ms: 10 };
      throw new Error('exporter crashed');
    }
    const seen: string[] = [];
    await expect(collectKeyed(produce(), { concurrency: 2, keyOf }, t.worker, (r) => seen.push(`${r.status} ${r.item.id}`))).rejects.toThrow(
      'exporter crashed',
    );
    expect(seen).toEqual(['canceled a2', 'done a1']);
    expect(t.log).toEqual(['start a1', 'end a1']);
  });

  it('rejects a bad concurrency', async () => {
    await expect(collectKeyed([1], { concurrency: 0, keyOf: String }, async () => 1)).rejects.toThrow(/concurrency/);
  });
});

describe('retryWithBackoff', () => {
  it('retries transient results with doubling delays', async () => {
    const times: number[] = [];
    const { value, attempts } = await retryWithBackoff(
      async (attempt) => {
        times.push(performance.now());
        return attempt < 3 ? 'race' : 'ok';
      },
      { retries: 5, baseMs: 20, isTransient: (v) => v === 'race' },
    );
    expect({ value, attempts }).toEqual({ value: 'ok', attempts: 3 });
    const [t0, t1, t2] = times as [number, number, number];
    expect(t1 - t0).toBeGreaterThanOrEqual(18);
    expect(t2 - t1).toBeGreaterThanOrEqual(38);
  });

  it('does not retry a permanent result', async () => {
    const r = await retryWithBackoff(async () => 'unauthorized', { retries: 3, baseMs: 1, isTransient: () => false });
    expect(r).toEqual({ value: 'unauthorized', attempts: 1 });
  });

  it('returns the last result when retries run out', async () => {
    const r = await retryWithBackoff(async (n) => `race ${n}`, { retries: 2, baseMs: 1, isTransient: () => true });
    expect(r).toEqual({ value: 'race 3', attempts: 3 });
  });

  it('stops waiting as soon as the signal aborts', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const started = performance.now();
    const r = await retryWithBackoff(async () => 'race', {
      retries: 5, baseMs: 10_000, isTransient: () => true, signal: ac.signal,
    });
    expect(r).toEqual({ value: 'race', attempts: 1 });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('does not retry a thrown error', async () => {
    let calls = 0;
    await expect(
      retryWithBackoff(async () => {
        calls++;
        throw new Error('bug');
      }, { retries: 3, baseMs: 1, isTransient: () => true }),
    ).rejects.toThrow('bug');
    expect(calls).toBe(1);
  });
});
