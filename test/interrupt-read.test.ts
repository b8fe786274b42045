// `list --json` and `verify --json` stopped by SIGTERM mid-run: stdout is still one whole JSON document, it says
// `"interrupted": true`, and its counts are what was read before the signal (README "Monitoring": a monitor
// reading the document must tell a partial run from a whole one). The uninterrupted run says false.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { generateStorage } from '../scripts/bench/generate-storage.mjs';
import { BIN } from './helpers/cli.js';
import { expectInterruptedLastLine } from './helpers/last-line.js';
import { makeTempDir, startRegistry } from './helpers/registry.js';

const TAGS = 1000;
const TIMEOUT = 240_000;

interface Doc {
  command: string;
  interrupted: boolean;
  images: unknown[];
  summary: { tags: number; selected: number; counts: Record<string, number> };
}

/** Runs the CLI and sends SIGTERM once `after` images are on stdout (or runs it to the end when `after` is undefined). */
async function runJson(args: string[], after?: number) {
  const child = execa('node', [BIN, ...args], { reject: false, stdin: 'ignore' });
  let text = '';
  let sent = false;
  child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    // One image per line, each a JSON object on its own.
    if (after !== undefined && !sent && (text.match(/^\s*\{"/gm)?.length ?? 0) >= after) {
      sent = true;
      child.kill('SIGTERM');
    }
  });
  const r = await child;
  return { exitCode: r.exitCode, stderr: String(r.stderr), sent, doc: JSON.parse(text) as Doc };
}

/** What a run stopped after 20 images must show: exit 143, one document saying interrupted, part of the tags. */
function expectCut(cut: Awaited<ReturnType<typeof runJson>>, command: string): void {
  expect(cut.sent, 'the run ended before 20 images were printed').toBe(true);
  expect(cut.exitCode, cut.stderr).toBe(143);
  expect(cut.doc.command).toBe(command);
  expect(cut.doc.interrupted).toBe(true);
  expect(cut.doc.images.length).toBeGreaterThanOrEqual(20);
  expect(cut.doc.images.length).toBeLessThan(TAGS);
  // With --json too the log ends as every run's does, with the code and the counts (stdout is the document).
  expectInterruptedLastLine(cut.stderr, 'SIGTERM', cut.doc);
}

describe('list and verify interrupted mid-run', () => {
  it('list --json: a whole document that says interrupted and counts what it read; the full run says not', async () => {
    const dir = await makeTempDir('rr-list-int-');
    const storage = path.join(dir, 'storage');
    generateStorage({ dir: storage, tags: TAGS, seed: 21 });
    try {
      const cut = await runJson(['list', storage, '--json'], 20);
      expectCut(cut, 'list');
      expect(cut.doc.summary.tags).toBe(cut.doc.images.length);
      const whole = await runJson(['list', storage, '--json']);
      expect(whole.exitCode, whole.stderr).toBe(0);
      expect(whole.doc.interrupted).toBe(false);
      expect(whole.doc.images).toHaveLength(TAGS);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, TIMEOUT);

  it('verify --json: the same, against a registry that holds none of the images', async () => {
    const dir = await makeTempDir('rr-verify-int-');
    const storage = path.join(dir, 'storage');
    generateStorage({ dir: storage, tags: TAGS, seed: 22 });
    const reg = await startRegistry();
    try {
      const args = ['verify', storage, '--to', reg.host, '--dest-tls-verify=false', '--json'];
      const cut = await runJson(args, 20);
      expectCut(cut, 'verify');
      const whole = await runJson(args);
      expect(whole.exitCode, whole.stderr).toBe(4); // every image is missing from the empty target
      expect(whole.doc.interrupted).toBe(false);
      expect(whole.doc.images).toHaveLength(TAGS);
    } finally {
      await reg.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, TIMEOUT);
});
