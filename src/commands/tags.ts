/**
 * `registry-rescue tags`: lists every `repository:tag` of a LIVE registry, to feed `--tags-file`.
 * For Harbor this is the way to leave out tags its database deleted but its storage still holds.
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import { PreflightError, UsageError } from '../errors.js';
import { resolveCredentials, type Credentials } from '../registry/credentials.js';
import type { HarborApi } from '../registry/harbor-api.js';
import type { Io } from '../io.js';
import { writeFileAtomic } from '../output/write-atomic.js';
import { collect, parseBool } from './shared.js';
import type { TagListing } from '../registry/list-tags.js';
import { DEFAULT_PAGE_SIZE, DEFAULT_TIMEOUT_MS } from '../registry/defaults.js';

interface TagsOptions {
  from: string;
  project: string[];
  format: 'tags' | 'json';
  output?: string;
  authfile?: string;
  certDir?: string;
  tlsVerify: boolean;
  includeProxyCache: boolean;
  pageSize: number;
  mapFile?: string;
  mapSuffix: string;
}

/** What `--map-file` appends to a proxy-cache project's name by default. */
export const DEFAULT_MAP_SUFFIX = '-archive';

/** Builds the `tags` sub-command. */
export function tagsCommand(io: Io): Command {
  return new Command('tags')
    .description('List every repository:tag of a live registry (Harbor API or /v2/_catalog), ready for --tags-file')
    .requiredOption('--from <url>', 'registry to list: https://host[:port] (http:// for a plain-http registry)')
    .option('--project <name>', 'only this Harbor project / first name component (repeatable)', collect, [])
    .addOption(
      new Option('--format <format>', 'output: repository:tag lines, or JSON (with digests, and push times from Harbor)').choices(['tags', 'json']).default('tags'),
    )
    .option('--output <file>', 'write to this file (atomically) instead of standard output')
    .option('--authfile <file>', 'containers-auth.json with credentials for the host (default: REGISTRY_AUTH_FILE)')
    .option('--cert-dir <dir>', 'directory of *.crt CA files to trust, like skopeo --cert-dir')
    .option('--tls-verify [bool]', 'verify the registry certificate (--tls-verify=false to skip)', parseBool, true)
    .option('--include-proxy-cache', 'also list Harbor proxy-cache projects', false)
    .option('--page-size <n>', 'entries asked per page', parsePageSize, DEFAULT_PAGE_SIZE)
    .option('--map-file <file>', 'Harbor: also write SRC=DST lines, one per proxy-cache project (DST = SRC plus --map-suffix), for sync --map-projects-file')
    .option('--map-suffix <suffix>', 'what --map-file appends to a proxy-cache project\'s name', DEFAULT_MAP_SUFFIX)
    .addHelpText(
      'after',
      `
Credentials: --authfile, REGISTRY_AUTH_FILE, or REGISTRY_RESCUE_USERNAME + REGISTRY_RESCUE_PASSWORD.
Harbor's full list needs a system administrator or a robot account allowed to list every project.

Examples:
  registry-rescue tags --from https://harbor.example.com --authfile /root/harbor-auth.json --output rescue.tags
  registry-rescue tags --from https://harbor.example.com --project library --project team-a --format json
  registry-rescue tags --from http://127.0.0.1:5000 > rescue.tags      # a plain Docker Distribution registry
  registry-rescue tags --from https://harbor.example.com --include-proxy-cache --output rescue.tags --map-file rescue.map`,
    )
    .action(async (opts: TagsOptions) => {
      await runTags(io, opts);
    });
}

async function runTags(io: Io, opts: TagsOptions): Promise<void> {
  const url = parseSource(opts.from);
  const credentials = await resolveCredentials({ authFile: resolvePath(io, opts.authfile), env: io.env, host: url.host });
  // As sync and verify do: with several places searched, the operator sees which one answered.
  if (credentials) io.stderr(`using credentials for ${url.host} from ${credentials.source}\n`);
  // The HTTP stack (node:https, tls) loads only for this command: the others start ~40 ms sooner without it.
  const listing = await listTags(io, url, opts, credentials).catch(async (error: unknown) => {
    const { asPreflight } = await import('../registry/list-tags.js');
    throw asPreflight(error);
  });
  reportSummary(io, listing, opts);
  const text = opts.format === 'json' ? renderJson(url, listing) : renderLines(listing);
  const output = resolvePath(io, opts.output);
  if (output) await writeAtomically(output, text);
  else io.stdout(text);
  const mapFile = resolvePath(io, opts.mapFile);
  if (mapFile) {
    if (listing.kind !== 'harbor') {
      io.stderr(`${url.host} is not a Harbor: it has no proxy-cache projects, ${mapFile} was not written\n`);
      return;
    }
    await writeAtomically(mapFile, renderProjectMap(listing.proxyCacheProjects ?? [], opts.mapSuffix));
    io.stderr(`wrote ${mapFile}: ${listing.proxyCacheProjects?.length ?? 0} proxy-cache project(s) mapped to regular ones\n`);
  }
}

/**
 * `SRC=DST` lines for sync/verify --map-projects-file: Harbor deletes a proxy-cached tag when the upstream deletes it
 * and refuses pushes into a proxy-cache project, so its images are kept in a regular project.
 */
export function renderProjectMap(proxyCacheProjects: readonly string[], suffix: string): string {
  const head = '# proxy-cache projects of the source Harbor, kept in regular projects on the target (registry-rescue tags --map-file)\n';
  return head + proxyCacheProjects.map((p) => `${p}=${p}${suffix}\n`).join('');
}

async function listTags(io: Io, url: URL, opts: TagsOptions, credentials: Credentials | undefined): Promise<TagListing> {
  const [{ createHarborApi }, { listHarborTags, listRegistryTags }, { createRegistryClient }] = await Promise.all([
    import('../registry/harbor-api.js'),
    import('../registry/list-tags.js'),
    import('../registry/registry-client.js'),
  ]);
  const common = {
    tlsVerify: opts.tlsVerify,
    certDir: resolvePath(io, opts.certDir),
    credentials,
    signal: io.signal,
    timeoutMs: DEFAULT_TIMEOUT_MS,
    pageSize: opts.pageSize,
    flags: '',
  } as const;
  const api = createHarborApi({ url, ...common });
  try {
    const info = await api.detectHarbor();
    if (info) {
      if (credentials && !info.authenticated) {
        // Harbor treats wrong Basic credentials as anonymous: it would silently list public projects only.
        const who = `user "${credentials.username}" from ${credentials.source}`;
        throw new PreflightError(`wrong credentials for Harbor ${url.host}: it did not accept ${who}`);
      }
      await warnAboutVisibility(io, api, credentials);
      return await listHarborTags(api, { projects: opts.project, includeProxyCache: opts.includeProxyCache, version: info.version });
    }
  } finally {
    api.close();
  }
  const client = createRegistryClient({ host: url.host, insecure: url.protocol === 'http:', ...common });
  try {
    // Digests cost one HEAD a tag: only the JSON format shows them.
    return await listRegistryTags(client, opts.project, { digests: opts.format === 'json' });
  } finally {
    client.close();
  }
}

/** Harbor lists only what the caller may see; say so when that may not be everything. */
async function warnAboutVisibility(io: Io, api: HarborApi, credentials: Credentials | undefined): Promise<void> {
  if (!credentials) {
    io.stderr('warning: no credentials for Harbor: only public projects are listed\n');
    return;
  }
  const user = await api.currentUser();
  if (user && !user.sysadmin) {
    io.stderr(`warning: user "${user.username}" is not a Harbor system administrator: only its own and public projects are listed\n`);
  }
}

function reportSummary(io: Io, listing: TagListing, opts: TagsOptions): void {
  const what = listing.kind === 'harbor' ? `Harbor${listing.harborVersion ? ` ${listing.harborVersion}` : ''}` : 'registry';
  const projects = listing.projects !== undefined ? `${listing.projects} projects, ` : '';
  io.stderr(`${what}: ${projects}${listing.repositories} repositories, ${listing.images.length} tags\n`);
  const skipped = listing.proxyCacheSkipped ?? [];
  if (skipped.length > 0 && !opts.includeProxyCache) {
    io.stderr(`left out ${skipped.length} proxy-cache project(s) (${skipped.join(', ')}): pass --include-proxy-cache to list them\n`);
  }
  if (listing.untaggedArtifacts) io.stderr(`${listing.untaggedArtifacts} untagged artifact(s) not listed\n`);
}

/** `repository:tag` lines, sorted (the listing is sorted already). */
export function renderLines(listing: TagListing): string {
  return listing.images.map((i) => `${i.repository}:${i.tag}\n`).join('');
}

/** The JSON document of `--format json`. */
export function renderJson(source: URL, listing: TagListing): string {
  const summary = {
    repositories: listing.repositories,
    tags: listing.images.length,
    ...(listing.kind === 'harbor'
      ? { projects: listing.projects, proxyCacheSkipped: listing.proxyCacheSkipped, untaggedArtifacts: listing.untaggedArtifacts }
      : {}),
  };
  const version = listing.harborVersion ? { harborVersion: listing.harborVersion } : {};
  const document = { source: source.origin, kind: listing.kind, ...version, images: listing.images, summary };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** Parses `--from`: https:// (default) or http://, host and port only. */
export function parseSource(value: string): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`);
  } catch {
    throw new UsageError(`--from ${JSON.stringify(value)} is not a URL: expected https://host[:port]`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`--from must be https:// or http://, not ${url.protocol}//`);
  }
  if (url.username || url.password) {
    throw new UsageError('--from must not carry credentials: use --authfile or REGISTRY_RESCUE_USERNAME/PASSWORD');
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new UsageError(`--from takes the registry's address only (https://host[:port]), not a path: ${value}`);
  }
  return url;
}

/** Writes the list atomically: readers never see half a list. */
async function writeAtomically(file: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(file, text);
  } catch (error) {
    throw new PreflightError(`cannot write ${file}: ${(error as Error).message}`, { cause: error });
  }
}

function resolvePath(io: Io, file: string | undefined): string | undefined {
  return file === undefined ? undefined : path.resolve(io.cwd, file);
}

function parsePageSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new UsageError(`--page-size must be an integer from 1 to 1000, got ${JSON.stringify(value)}`);
  }
  return n;
}
