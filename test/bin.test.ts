// The executable as installed, npx and cron run it (not `node bin/…`, as the other tests do): its #! line must
// start Node with the memory setting the README and the bench rely on (V8's young generation capped).
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { BIN, ROOT } from './helpers/cli.js';
import { makeTempDir } from './helpers/registry.js';

it('runs as a program, with the V8 flag of its #! line', async () => {
  const dir = await makeTempDir('rr-bin-');
  // Loaded into the CLI's own process: reports the Node flags it was started with.
  const probe = path.join(dir, 'probe.mjs');
  await writeFile(probe, "process.on('exit', () => process.stderr.write(`EXEC_ARGV=${JSON.stringify(process.execArgv)}\\n`));\n");
  const r = await execa(BIN, ['--version'], { reject: false, env: { NODE_OPTIONS: `--import=${probe}` } });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  expect(String(r.stdout).trim()).toBe(pkg.version);
  const argv = JSON.parse(/EXEC_ARGV=(.*)/.exec(String(r.stderr))?.[1] ?? 'null') as string[] | null;
  expect(argv).toContain('--max-semi-space-size=4');
});
