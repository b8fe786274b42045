/**
 * `--shard K/N`: split one run's repositories over N runs (N cron hosts, or a Kubernetes Indexed Job
 * with `--shard $((JOB_COMPLETION_INDEX+1))/N`, since the index counts from 0 and K from 1). Pure.
 *
 * The split is by repository, never by tag, so every tag of a repository lands in the same shard:
 * pushes into one repository are serialized anyway, and two shards pushing into one repository would
 * race. The hash is part of the contract (a change moves repositories between shards, and so between
 * hosts that each keep their own exported layouts): test/shard.test.ts pins it.
 */
import { UsageError } from '../errors.js';

/** Shard `index` (1-based, as typed) of `count`. */
export interface Shard {
  index: number;
  count: number;
}

export const MAX_SHARDS = 10_000;
const SHARD_RE = /^(\d+)\/(\d+)$/;

/** Parses `K/N` (1 ≤ K ≤ N ≤ 10000); UsageError otherwise. `what` names the flag in the error. */
export function parseShard(text: string, what = '--shard'): Shard {
  const match = SHARD_RE.exec(text.trim());
  const fail = (why: string): never => {
    throw new UsageError(`${what} ${JSON.stringify(text)}: ${why}`);
  };
  if (!match) return fail('expected K/N, e.g. 2/4 for the second of four shards');
  const index = Number(match[1]);
  const count = Number(match[2]);
  if (count < 1 || count > MAX_SHARDS) fail(`N must be 1 to ${MAX_SHARDS}`);
  if (index < 1) fail('K counts from 1 (a Kubernetes Indexed Job passes --shard $((JOB_COMPLETION_INDEX+1))/N)');
  if (index > count) fail(`K must be at most N (${count})`);
  return { index, count };
}

/** `K/N`, as parsed and as the metrics' `shard` label shows it. */
export function formatShard(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}

/** The 1-based shard of `count` that `repository` belongs to. */
export function shardOf(repository: string, count: number): number {
  return (hashRepository(repository) % count) + 1;
}

/** Whether `repository` belongs to `shard`. */
export function inShard(repository: string, shard: Shard): boolean {
  return shardOf(repository, shard.count) === shard.index;
}

const encoder = new TextEncoder();

/**
 * FNV-1a 32-bit of the UTF-8 name, then murmur3's fmix32 finalizer. Plain FNV-1a mod 2 would be
 * the parity of the odd bytes (its lowest bit never mixes), so names that are anagrams, or that
 * differ in two digits, would always share a shard; fmix32 spreads every input bit over all 32.
 */
export function hashRepository(repository: string): number {
  let h = 0x811c9dc5;
  for (const byte of encoder.encode(repository)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
