/** `registry-rescue verify <storage> --to …`: is every source tag in the target, with the same digest? */
import { Command } from 'commander';
import { EXIT } from '../errors.js';
import type { Io } from '../io/io.js';
import { writeJsonDocument } from '../report/json-stream.js';
import { createProgress } from '../report/progress.js';
import { REPORT_VERSION } from '../report/render-sync.js';
import { runVerify, type VerifyResult } from '../run-verify.js';
import { addSelectionOptions, type SelectionFlags } from './shared.js';
import { addTargetOptions, targetAccess, type TargetFlags } from './sync.js';

interface VerifyFlags extends SelectionFlags, TargetFlags {
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
}

/** Builds the `verify` command. */
export function verifyCommand(io: Io): Command {
  const command = new Command('verify')
    .description('compare every selected source tag with the target, without pushing: ok / missing / different / broken-at-source')
    .argument('<storage>', 'the registry volume: /data/registry, …/docker/registry or …/docker/registry/v2')
    .option('--json', 'print { images, summary } as JSON')
    .option('-v, --verbose', 'also list tags that are ok')
    .option('-q, --quiet', 'no progress on stderr');
  addSelectionOptions(addTargetOptions(command)).addHelpText(
    'after',
    `
Examples:
  registry-rescue verify /data/registry --to harbor-new.example.com --dest-authfile /root/auth.json
  registry-rescue verify /data/registry --to harbor-new.example.com --json > /var/log/rescue-audit.json`,
  );
  return command.action(async (storage: string, flags: VerifyFlags) => {
    const progress = createProgress(io.stderr, { isTTY: io.isTTY, quiet: flags.quiet === true || flags.json === true });
    const started = performance.now();
    const startedAt = new Date().toISOString();
    const run = await runVerify(
      {
        storage, to: flags.to, tagsFile: flags.tagsFile, exclude: flags.exclude, verifyBlobs: flags.verifyBlobs,
        ...(await targetAccess(flags, io)),
      },
      { cwd: io.cwd, env: io.env, signal: io.signal, emit: (e) => progress.event(e) },
    );
    progress.event({ kind: 'run:done', ms: performance.now() - started });
    progress.close();
    const c = run.counts;
    if (flags.json) {
      writeJsonDocument(io.stdout, { version: REPORT_VERSION, command: 'verify', storage: run.storage, target: flags.to, startedAt, finishedAt: new Date().toISOString() }, 'images', run.results, {
        summary: { ...c, selected: run.results.length, unreadable: run.exportSummary.unreadable },
      });
    } else {
      const lines = run.results.filter((r) => flags.verbose || (r.status !== 'ok' && !(r.status === 'skipped' && !r.reason))).map(renderLine);
      io.stdout(lines.join(''));
      io.stdout(`${run.results.length} tags checked against ${flags.to}: ${c.ok} ok, ${c.missing} missing, ${c.different} different, ${c['broken-at-source']} broken at source, ${c.skipped} skipped, ${c.error} errors\n`);
    }
    const bad = c.missing + c.different + c['broken-at-source'] + c.error + run.exportSummary.unreadable.length;
    io.setExitCode(bad > 0 ? EXIT.partial : EXIT.ok);
  });
}

function renderLine(r: VerifyResult): string {
  return `${r.status.padEnd(16)} ${r.source} -> ${r.target}${r.reason ? `\n                 ${r.reason}` : ''}\n`;
}
