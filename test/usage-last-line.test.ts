/**
 * README, Exit codes: "the last log line names the outcome ... a run that could not start ... with its one-line
 * reason". Commander's refusals (an unknown option, a missing argument, an unknown command) printed only
 * commander's own `error: …` lines, so a cron log grepped for `^registry-rescue:` showed nothing for a crontab typo.
 */
import { describe, expect, it } from 'vitest';
import { cli, copyFixture } from './helpers/cli.js';

const lastLine = (stderr: string): string => stderr.trimEnd().split('\n').at(-1) ?? '';

describe('a usage error ends stderr with registry-rescue: exit 2', () => {
  it('an unknown option (a crontab typo), with commander\'s suggestion kept above', async () => {
    const { storage } = await copyFixture();
    const r = await cli(['list', storage, '--tag-file', 'rescue.tags']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('(Did you mean --tags-file?)');
    expect(lastLine(r.stderr)).toBe("registry-rescue: exit 2, usage error: unknown option '--tag-file'; see registry-rescue list --help");
  });

  it('a missing argument and an unknown command', async () => {
    const missing = await cli(['list']);
    expect(missing.exitCode).toBe(2);
    expect(lastLine(missing.stderr)).toBe("registry-rescue: exit 2, usage error: missing required argument 'storage'; see registry-rescue list --help");
    const command = await cli(['lst', '/data/registry']);
    expect(command.exitCode).toBe(2);
    expect(lastLine(command.stderr)).toBe("registry-rescue: exit 2, usage error: unknown command 'lst'; see registry-rescue --help");
  });

  it('--help and --version are no error: no such line', async () => {
    for (const args of [['--help'], ['list', '--help'], ['--version']]) {
      const r = await cli(args);
      expect(r.exitCode, args.join(' ')).toBe(0);
      expect(r.stderr + r.stdout, args.join(' ')).not.toContain('usage error');
    }
  });
});
