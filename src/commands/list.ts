/** `registry-rescue list <storage>`: every tag, what it is and whether it can be exported. */
import { Command, Option } from 'commander';
import { exitCodeForRun } from '../core/results.js';
import type { Io } from '../io.js';
import { imageJson, listHeader, listLine, renderSummaryText, selectionLines } from '../report/render-export.js';
import { createProgress } from '../report/progress.js';
import { exportIssues, openExport } from '../run-export.js';
import { endRun, openDocuments } from './outputs.js';
import { addSelectionOptions, selectionOf, type SelectionFlags , newCommand, STORAGE_ARGUMENT } from './shared.js';

interface ListFlags extends SelectionFlags {
  json?: boolean;
  format: 'table' | 'tags';
  quiet?: boolean;
}

/** Builds the `list` command. */
export function listCommand(io: Io): Command {
  const command = newCommand('list', io.env)
    .description('list every tag in a registry storage with its digest, kind, size and status (ok / broken / skipped)')
    .argument('<storage>', STORAGE_ARGUMENT)
    .option('--json', 'print one JSON object { version, command, storage, images, summary }, written image by image')
    .addOption(new Option('--format <format>', 'table, or tags: repository:tag lines of exportable tags, to edit into a --tags-file').choices(['table', 'tags']).default('table'))
    .option('-q, --quiet', 'no progress or totals on stderr: only warnings, the tags file\'s problems and the last line (registry-rescue: exit N, …)');
  addSelectionOptions(command).addHelpText(
    'after',
    `
Examples:
  registry-rescue list /data/registry
  registry-rescue list /var/lib/kubelet/pods/…/volumes/kubernetes.io~local-volume/harbor-registry --json > tags.json
  registry-rescue list /data/registry --format tags > rescue.tags     # review, then: export --tags-file rescue.tags`,
  );
  return command.action(async (storage: string, flags: ListFlags) => {
    const progress = createProgress(io.stderr, { isTTY: io.isTTY, quiet: flags.quiet === true || flags.json === true, color: io.color === true, columns: () => io.columns, signal: io.signal });
    const started = performance.now();
    const chosen = selectionOf(flags);
    const run = await openExport(
      { storage, ...chosen, dryRun: true, prune: false, link: 'hard' },
      { cwd: io.cwd, env: io.env, signal: io.signal, emit: (e) => progress.event(e) },
    );
    const doc = flags.json ? openDocuments(io, { json: true, head: { command: 'list', storage: run.storage.v2 }, key: 'images' }) : undefined;
    let lines = 0;
    for await (const r of run.results) {
      // `list … | head`: once the reader has gone, stop reading the storage.
      if (io.stdoutClosed()) break;
      if (doc) doc.item(imageJson(r));
      else if (flags.format === 'tags') {
        if (r.item.image.status === 'ok') io.stdout(`${r.id}\n`);
      } else {
        if (lines++ === 0) io.stdout(listHeader());
        io.stdout(listLine(r, io.isTTY));
      }
    }
    const summary = await run.finish();
    const outputClosed = io.stdoutClosed();
    progress.event({ kind: 'run:done', ms: performance.now() - started, ...(outputClosed ? { outputClosed } : {}) });
    progress.close();
    // Cut short by the reader, the counts cover what was read, not the storage: the progress line says so instead.
    const issues = exportIssues(summary);
    const shard = chosen.shard ? { shard: chosen.shard } : {};
    if (outputClosed || flags.json) {
      // Nothing: the reader left (the progress line said so), or the document's summary is what a monitor reads.
    } else if (flags.quiet) {
      // No totals, but a cron job's exit 4 is still explained (README, Exit codes: the last line names the
      // outcome), with the selection's problems its "see above" points at: stdout does not show them.
      const notes = selectionLines(summary, chosen.shard, { quiet: true });
      io.stderr(notes.map((l) => `${l}\n`).join(''));
    } else {
      io.stderr(renderSummaryText(summary, { command: 'list', dryRun: true, stopped: io.signal.aborted, ...shard }));
    }
    // After an interrupt the last line comes also when the reader left or reads JSON: it carries the exit code.
    endRun(io, doc, { interrupted: io.signal.aborted, summary }, summary.counts, issues, { json: outputClosed || flags.json === true });
    io.setExitCode(exitCodeForRun(summary.counts, issues));
  });
}
