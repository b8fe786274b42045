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
