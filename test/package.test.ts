// The package as others consume it: `bin` runs, `exports` resolves (self-reference by name, built dist/).
import { describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';

describe('package', () => {
  it('exports the library entry named in package.json', async () => {
    const lib = await import('registry-rescue');
    expect(typeof lib.runExport).toBe('function');
    expect(typeof lib.runSync).toBe('function');
    expect(lib.EXIT.partial).toBe(4);
  });

  it('prints its version and lists every command with examples in --help', async () => {
    const version = await cli(['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const help = await cli(['--help']);
    for (const command of ['list', 'export', 'sync', 'verify', 'tags']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
      const sub = await cli([command, '--help']);
      expect(sub.exitCode).toBe(0);
      expect(sub.stdout).toContain('Examples:');
    }
  });
});
