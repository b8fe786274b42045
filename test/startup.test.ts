// What each command loads: the HTTP stack (node:https, node:tls), execa, the S3 client and fast-glob are loaded only
// by the commands (or options) that use them, so `list` and `export` start sooner. The probe is an ESM resolve hook
// inside the CLI's own process, recording every module it resolves.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, FIXTURE_STORAGE } from './helpers/cli.js';
import { findFreePort, makeTempDir } from './helpers/registry.js';

let dir: string;
let probe: string;

beforeAll(async () => {
  dir = await makeTempDir('rr-startup-');
  const hooks = path.join(dir, 'hooks.mjs');
  await writeFile(
    hooks,
    "import { appendFileSync } from 'node:fs';\n" +
      'export async function resolve(specifier, context, next) {\n' +
      '  const r = await next(specifier, context);\n' +
      '  if (process.env.RR_IMPORTS_LOG) appendFileSync(process.env.RR_IMPORTS_LOG, `${r.url}\\n`);\n' +
      '  return r;\n' +
      '}\n',
  );
  probe = path.join(dir, 'probe.mjs');
  await writeFile(probe, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`);
});

/** The modules the CLI resolved while running `args` (URLs: node:…, file://…/node_modules/…, file://…/dist/…). */
async function loadedBy(name: string, args: string[]): Promise<{ exitCode: number; modules: string[] }> {
  const log = path.join(dir, `${name}.log`);
  const r = await execa('node', [BIN, ...args], { reject: false, env: { NODE_OPTIONS: `--import=${probe}`, RR_IMPORTS_LOG: log } });
  const modules = await readFile(log, 'utf8').then((t) => t.split('\n').filter(Boolean), () => []);
  return { exitCode: r.exitCode ?? -1, modules };
}

const HEAVY = { https: /^node:https$/, tls: /^node:tls$/, execa: /\/node_modules\/execa\//, s3: /\/node_modules\/@aws-sdk\//, fastGlob: /\/node_modules\/fast-glob\// };
const has = (modules: string[], re: RegExp) => modules.some((m) => re.test(m));

describe('start-up', () => {
  it('export --dry-run and list load none of the heavy modules', async () => {
    const out = path.join(dir, 'out');
    await mkdir(out);
    for (const [name, args] of [
      ['export', ['export', FIXTURE_STORAGE, '--out', out, '--dry-run', '-q']],
      ['list', ['list', FIXTURE_STORAGE, '--json']],
    ] as const) {
      const { exitCode, modules } = await loadedBy(name, [...args]);
      expect(exitCode, name).toBe(4); // the fixture holds broken images on purpose
      expect(modules.length, name).toBeGreaterThan(20);
      for (const [what, re] of Object.entries(HEAVY)) expect(has(modules, re), `${name} loads ${what}`).toBe(false);
    }
  });

  it('loads fast-glob for --prune, and the HTTP stack for tags (the probe sees them when they are used)', async () => {
    const pruned = await loadedBy('prune', ['export', FIXTURE_STORAGE, '--out', path.join(dir, 'out'), '--dry-run', '--prune', '-q']);
    expect(has(pruned.modules, HEAVY.fastGlob)).toBe(true);
    // A closed loopback port: the listing fails, after loading what it needs.
    const tags = await loadedBy('tags', ['tags', '--from', `http://127.0.0.1:${await findFreePort()}`]);
    expect(tags.exitCode).not.toBe(0);
    expect(has(tags.modules, HEAVY.https)).toBe(true);
  });
});
