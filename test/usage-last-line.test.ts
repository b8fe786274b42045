/**
 * README, Exit codes: "the last log line names the outcome ... a run that could not start ... with its one-line
 * reason". Commander's refusals (an unknown option, a missing argument, an unknown command) printed only
 * commander's own `error: …` lines, so a cron log grepped for `^registry-rescue:` showed nothing for a crontab typo.
 */
import { describe, expect, it } from 'vitest';
import { cli, copyFixture } from './helpers/cli.js';


describe('a usage error ends stderr with registry-rescue: exit 2', () => {
  // Commander's own `error: …` line said the same reason a second time, its suggestion on a third.
  it('an unknown option (a crontab typo): one line, commander\'s suggestion in it', async () => {
    const { storage } = await copyFixture();
    const r = await cli(['list', storage, '--tag-file', 'rescue.tags']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trimEnd()).toBe("registry-rescue: exit 2, usage error: unknown option '--tag-file' (did you mean --tags-file?); see registry-rescue list --help");
  });

  it('a missing argument and an unknown command', async () => {
    const missing = await cli(['list']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr.trimEnd()).toBe("registry-rescue: exit 2, usage error: missing required argument 'storage'; see registry-rescue list --help");
    const command = await cli(['lst', '/data/registry']);
    expect(command.exitCode).toBe(2);
    expect(command.stderr.trimEnd()).toBe("registry-rescue: exit 2, usage error: unknown command 'lst' (did you mean list?); see registry-rescue --help");
  });

  it('--help and --version are no error: no such line', async () => {
    for (const args of [['--help'], ['list', '--help'], ['--version']]) {
      const r = await cli(args);
      expect(r.exitCode, args.join(' ')).toBe(0);
      expect(r.stderr + r.stdout, args.join(' ')).not.toContain('usage error');
    }
  });
});
