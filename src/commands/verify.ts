/** `registry-rescue verify <storage> --to …`: is every source tag in the target, with the same digest? */
import { Command } from 'commander';
import { exitCodeForRun, plural } from '../core/results.js';
import type { Io } from '../io/io.js';
import { createProgress } from '../report/progress.js';
import { exportIssues } from '../run-export.js';
import { openVerify, type VerifyResult } from '../run-verify.js';
import { checkReportPath, openDocuments } from './outputs.js';
import { addSelectionOptions, type SelectionFlags } from './shared.js';
import { addTargetOptions, targetAccess, type TargetFlags } from './sync.js';

interface VerifyFlags extends SelectionFlags, TargetFlags {
  json?: boolean;
  report?: string;
  verbose?: boolean;
  quiet?: boolean;
}

/** Builds the `verify` command. */
export function verifyCommand(io: Io): Command {
  const command = new Command('verify')
    .description('compare every selected source tag with the target, without pushing: ok / missing / different / broken (at source) / skipped / failed')
    .argument('<storage>', 'the registry volume: /data/registry, …/docker/registry or …/docker/registry/v2')
    .option('--json', 'print { version, command, images, summary } as JSON, written image by image')
    .option('--report <file>', 'also write that JSON document to FILE (atomically)')
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
    const reportFile = await checkReportPath(io, flags.report);
    const progress = createProgress(io.stderr, { isTTY: io.isTTY, quiet: flags.quiet === true || flags.json === true, color: io.color === true, columns: () => io.columns, signal: io.signal });
    const started = performance.now();
    const run = await openVerify(
      {
        storage, to: flags.to, tagsFile: flags.tagsFile, exclude: flags.exclude, verifyBlobs: flags.verifyBlobs,
        ...(await targetAccess(flags, io)),
      },
      { cwd: io.cwd, env: io.env, signal: io.signal, emit: (e) => progress.event(e) },
    );
    const head = { command: 'verify', storage: run.storage, target: flags.to, startedAt: new Date().toISOString() };
    const doc = flags.json || reportFile ? openDocuments(io, { json: flags.json === true, reportFile, head, key: 'images' }) : undefined;
    let checked = 0;
    for await (const r of run.results) {
      checked++;
      doc?.item(r);
      if (!flags.json && (flags.verbose || (r.status !== 'ok' && !(r.status === 'skipped' && !r.reason)))) io.stdout(renderLine(r));
    }
    const { counts: c, exportSummary } = await run.finish();
    progress.event({ kind: 'run:done', ms: performance.now() - started });
    progress.close();
    doc?.end({ finishedAt: new Date().toISOString(), summary: { counts: c, selected: checked, unreadable: exportSummary.unreadable } });
    if (!flags.json) {
      io.stdout(`${plural(checked, 'tag')} checked against ${flags.to}: ${c.ok} ok, ${c.missing} missing, ${c.different} different, ${c.broken} broken at source, ${c.skipped} skipped, ${c.failed} failed\n`);
    }
    io.setExitCode(exitCodeForRun(c, exportIssues(exportSummary)));
  });
}

function renderLine(r: VerifyResult): string {
  return `${r.status.padEnd(16)} ${r.source} -> ${r.target}${r.reason ? `\n                 ${r.reason}` : ''}\n`;
}
