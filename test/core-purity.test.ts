// src/core/ decides everything and must stay pure: no file system, processes, terminal colours or process state.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const coreDir = path.join(import.meta.dirname, '../src/core');
const FORBIDDEN = [
  /from ['"](node:)?fs/,
  /from ['"](node:)?child_process['"]/,
  /from ['"](node:)?(http|https|net)['"]/,
  /from ['"]execa['"]/,
  /from ['"]chalk['"]/,
  /\bimport\(/,
  /\bprocess\./,
  /Date\.now\(\)/,
  /new Date\(/,
];

describe('src/core purity', () => {
  const files = readdirSync(coreDir).filter((f) => f.endsWith('.ts'));
  it('has modules to check', () => expect(files.length).toBeGreaterThan(3));
  for (const file of files) {
    it(`${file} has no side-effecting imports`, () => {
      const text = readFileSync(path.join(coreDir, file), 'utf8');
      expect(FORBIDDEN.filter((re) => re.test(text)).map(String)).toEqual([]);
    });
  }
});

// The three I/O wings stay apart, so a storage backend, the layout writer and the registry client can each be
// replaced without the others noticing: a wing imports core/, errors and io.ts, never another wing (the
// layout writer shares only the storage wing's thin synchronous fs calls).
describe('wings', () => {
  const src = path.join(import.meta.dirname, '../src');
  const ALLOWED: Record<string, RegExp[]> = {
    storage: [],
    output: [/^\.\.\/storage\/fast-fs\.js$/],
    registry: [],
  };
  for (const [wing, allowed] of Object.entries(ALLOWED)) {
    it(`src/${wing}/ imports no other wing`, () => {
      const files = readdirSync(path.join(src, wing)).filter((f) => f.endsWith('.ts'));
      expect(files.length).toBeGreaterThan(2);
      const crossings = files.flatMap((file) =>
        [...readFileSync(path.join(src, wing, file), 'utf8').matchAll(/from ['"](\.\.\/(?:storage|output|registry)\/[^'"]+)['"]/g)]
          .map((m) => m[1]!)
          .filter((spec) => !spec.startsWith(`../${wing}/`) && !allowed.some((re) => re.test(spec)))
          .map((spec) => `${file} -> ${spec}`),
      );
      expect(crossings).toEqual([]);
    });
  }
});
