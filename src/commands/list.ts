/** `registry-rescue list <storage>`: every tag, what it is and whether it can be exported. */
import { Command, Option } from 'commander';
import { exitCodeForCounts } from '../errors.js';
import type { Io } from '../io/io.js';
import { writeJson, renderListText, renderSummaryText } from '../report/render-export.js';
import { createProgress } from '../report/progress.js';
import { runExport } from '../run-export.js';
import { addSelectionOptions, type SelectionFlags } from './shared.js';

interface ListFlags extends SelectionFlags {
  json?: boolean;
  format: 'table' | 'tags';
  quiet?: boolean;
}

/** Builds the `list` command. */
export function listCommand(io: Io): Command {
  const command = new Command('list')
    .description('list every tag in a registry storage with its digest, kind, size and status (ok / broken / skipped)')
    .argument('<storage>', 'the registry volume: /data/registry, …/docker/registry or …/docker/registry/v2')
    .option('--json', 'print one JSON object { images, summary }')
    .addOption(new Option('--format <format>', 'table, or tags: repository:tag lines of exportable tags, to edit into a --tags-file').choices(['table', 'tags']).default('table'))
    .option('-q, --quiet', 'no progress or summary on stderr');
  addSelectionOptions(command).addHelpText(
    'after',
    `
Examples:
  registry-rescue list /data/registry
  registry-rescue list /var/lib/kubelet/pods/…/volumes/kubernetes.io~local-volume/harbor-registry --json > tags.json
  registry-rescue list /data/registry --format tags > rescue.tags     # review, then: export --tags-file rescue.tags`,
  );
  return command.action(async (storage: string, flags: ListFlags) => {
    const progress = createProgress(io.stderr, { isTTY: io.isTTY, quiet: flags.quiet === true || flags.json === true });
    const started = performance.now();
    const { results, summary, ctx } = await runExport(
      { storage, tagsFile: flags.tagsFile, exclude: flags.exclude, dryRun: true, prune: false, link: 'hard', verifyBlobs: flags.verifyBlobs },
      { cwd: io.cwd, signal: io.signal, emit: (e) => progress.event(e) },
    );
    progress.event({ kind: 'run:done', ms: performance.now() - started });
    progress.close();
    if (flags.json) {
      writeJson(io.stdout, results, summary, { storage: ctx.storage.v2 });
    } else if (flags.format === 'tags') {
      io.stdout(results.filter((r) => r.item.image.status === 'ok').map((r) => `${r.id}\n`).join(''));
      if (!flags.quiet) io.stderr(renderSummaryText(summary, { command: 'list', dryRun: true }));
    } else {
      io.stdout(renderListText(results, io.isTTY));
      if (!flags.quiet) io.stderr(renderSummaryText(summary, { command: 'list', dryRun: true }));
    }
    io.setExitCode(exitCodeForCounts({ failed: summary.broken + summary.unreadable.length }));
  });
}
