/**
 * Where images go and the skopeo argv that puts them there (pure: no fs, no processes).
 *
 * Every image is pushed by its own `skopeo sync` whose SOURCE is the image's layout dir itself and whose
 * DESTINATION is `<host>/<dirname(target repository)>`: skopeo 1.9.3 then names the image
 * `DESTINATION/<basename(SOURCE)>` (sync.go:681-703), which can neither flatten nested names (no `--scoped`,
 * two `app` repos overwrite each other) nor leak a non-clean SOURCE path into them (`--scoped`),
 * storage-and-skopeo.md §5.3.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import { MAX_NAME_LENGTH, repositoryNameProblem, tagProblem } from './reference.js';

/** A validated `--to` value: the registry host and an optional repository prefix. */
export interface PushTarget {
  /** `host[:port]` exactly as given; has a dot, a port or is `localhost`. */
  host: string;
  /** `a/b` (no leading or trailing slash), or `''` for none. */
  prefix: string;
  /** --map-project SRC=DST: the first path component of a nested source repository, renamed. */
  projects?: ReadonlyMap<string, string>;
  /** --root-project NAME: the project that root-level source repositories (`alpine`) are placed under. */
  rootProject?: string;
}

/** Where one image lands, or why it cannot be pushed at all. */
export interface TargetName {
  /** `prefix/repository` (what the target registry stores). */
  repository: string;
  /** `host/prefix/repository:tag`. */
  reference: string;
  /** Set when skopeo would refuse the reference; that image fails alone (§5.3: skopeo would abort the batch). */
  problem?: string;
}

/** Inputs of {@link buildSyncArgs}: one image per skopeo run. */
export interface SyncArgsOptions {
  /** Absolute, clean path of the layout dir; basename `<basename(targetRepository)>:<tag>`. */
  layoutDir: string;
  target: Pick<PushTarget, 'host'>;
  /** From {@link targetFor}: `prefix/repository`. */
  targetRepository: string;
  tlsVerify: boolean;
  certDir?: string;
  authFile?: string;
  /** A trust policy to load; without one `--insecure-policy` is passed (see below). */
  policyFile?: string;
  retryTimes?: number;
}

// Host grammar of distribution/reference regexp.go (domainComponent, optional port); no IPv6 literals.
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = new RegExp(`^${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*(?::([0-9]+))?$`);
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;

/** Flags whose value would be a secret if anyone ever passed one (we use authfiles instead, style guide §5). */
const SECRET_FLAGS = new Set(
  ['creds', 'password', 'registry-token'].flatMap((f) => [`--${f}`, `--src-${f}`, `--dest-${f}`]),
);

/**
 * Parses `--to <host[:port]>[/<prefix>]`. A scheme is refused rather than stripped: skopeo has no way to
 * be told "http" or "https" (it tries https and falls back to http only with TLS verification off), so
 * accepting `http://` would silently mean something else.
 */
export function parseTarget(spec: string): PushTarget {
  // `user:password@host`: a password in argv is already in `ps` and shell history; it is not repeated in our log.
  const bare = spec.replace(SCHEME, '');
  const at = bare.split('/')[0]?.lastIndexOf('@') ?? -1;
  if (at !== -1) {
    const rest = bare.slice(at + 1);
    throw new UsageError(
      `--to holds credentials before "@" (not shown): give host[:port][/prefix] only (--to ${rest}), and the credentials ` +
        'through --dest-authfile, REGISTRY_RESCUE_USERNAME/REGISTRY_RESCUE_PASSWORD or --dest-password-stdin',
    );
  }
  const scheme = SCHEME.exec(spec);
  if (scheme) {
    const rest = spec.slice(scheme[0].length);
    throw new UsageError(
      `--to ${spec}: give host[:port][/prefix] without "${scheme[1]}://" (--to ${rest}); skopeo picks https ` +
        'itself and falls back to plain http only when TLS verification is off',
    );
  }
  const slash = spec.indexOf('/');
  const host = slash === -1 ? spec : spec.slice(0, slash);
  // One trailing slash is harmless to skopeo (§5.3); we normalise it away.
  const prefix = slash === -1 ? '' : spec.slice(slash + 1).replace(/\/+$/, '');
  if (host === '') throw new UsageError(`--to ${JSON.stringify(spec)}: missing the registry host (host[:port][/prefix])`);
  const m = HOST.exec(host);
  if (!m) throw new UsageError(`--to ${spec}: "${host}" is not a valid registry host[:port]`);
  const port = m[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    throw new UsageError(`--to ${spec}: port ${port} is out of range`);
  }
  // Without a dot, a port or "localhost" skopeo reads the host as a docker.io namespace (§5.3).
  if (!host.includes('.') && port === undefined && host !== 'localhost') {
    throw new UsageError(
      `--to ${spec}: "${host}" has no dot, no port and is not "localhost", so skopeo would push to ` +
        `docker.io/${host}/…; add the port (${host}:443) or use the full domain name`,
    );
  }
  const bad = prefix === '' ? undefined : repositoryNameProblem(prefix);
  if (bad) throw new UsageError(`--to ${spec}: prefix "${prefix}": ${bad}`);
  return { host, prefix };
}

// Harbor's project name rule (src/common/utils/utils.go, ValidateProjectName / swagger projectName): lowercase
// alphanumerics separated by single `.`, `_` or `-`.
const PROJECT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const MAX_PROJECT_NAME = 255;

function projectNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > MAX_PROJECT_NAME) return `is longer than ${MAX_PROJECT_NAME} characters`;
  if (!PROJECT_NAME.test(name)) return 'is not a Harbor project name (lowercase letters and digits, separated by single ".", "_" or "-")';
  return undefined;
}

/**
 * Parses `--map-project SRC=DST` (repeatable) and `--root-project NAME` into the naming part of a PushTarget.
 * Every bad value is named at once (exit 2).
 */
export function parseProjectNaming(maps: readonly string[], rootProject: string | undefined): Pick<PushTarget, 'projects' | 'rootProject'> {
  const projects = new Map<string, string>();
  const bad: string[] = [];
  for (const spec of maps) {
    const eq = spec.indexOf('=');
    const src = eq === -1 ? '' : spec.slice(0, eq);
    const dst = eq === -1 ? '' : spec.slice(eq + 1);
    if (eq === -1) {
      bad.push(`--map-project ${JSON.stringify(spec)}: give SRC=DST, the source project and the target project (dockerhub=dockerhub-archive)`);
      continue;
    }
    const problem = (src.includes('/') ? 'holds "/": only the first path component is a project' : repositoryNameProblem(src)) ?? undefined;
    if (problem) bad.push(`--map-project ${spec}: source project "${src}" ${problem}`);
    const dstProblem = projectNameProblem(dst);
    if (dstProblem) bad.push(`--map-project ${spec}: target project "${dst}" ${dstProblem}`);
    const earlier = projects.get(src);
    if (earlier !== undefined && earlier !== dst) bad.push(`--map-project ${spec}: ${src} is already mapped to ${earlier}`);
    if (!problem && !dstProblem) projects.set(src, dst);
  }
  if (rootProject !== undefined) {
    const p = projectNameProblem(rootProject);
    if (p) bad.push(`--root-project ${JSON.stringify(rootProject)} ${p}`);
  }
  if (bad.length > 0) throw new UsageError(bad.join('\n'));
  return { ...(projects.size > 0 ? { projects } : {}), ...(rootProject !== undefined ? { rootProject } : {}) };
}

/**
 * The repository name on the target: `--map-project` renames the first path component of a nested repository,
 * `--root-project` puts a root-level one (`alpine`) under a project, then the `--to` prefix goes in front.
 */
export function targetRepositoryFor(repository: string, target: PushTarget): string {
  const slash = repository.indexOf('/');
  let name = repository;
  if (slash === -1) {
    if (target.rootProject !== undefined) name = `${target.rootProject}/${repository}`;
  } else {
    const mapped = target.projects?.get(repository.slice(0, slash));
    if (mapped !== undefined) name = `${mapped}${repository.slice(slash)}`;
  }
  return target.prefix ? `${target.prefix}/${name}` : name;
}

/** Names the target of one tag (or, with `digest`, of an untagged referrer); an invalid name yields `problem` instead of throwing. */
export function targetFor(repository: string, tag: string, target: PushTarget, digest?: string): TargetName {
  const targetRepository = targetRepositoryFor(repository, target);
  const name = `${target.host}/${targetRepository}`;
  const reference = digest !== undefined ? `${name}@${digest}` : `${name}:${tag}`;
  // reference.Parse limits the whole name, registry host included, to 255 characters.
  const bad =
    repositoryNameProblem(targetRepository) ??
    (digest === undefined && tagProblem(tag) !== undefined ? `tag ${JSON.stringify(tag)}: ${tagProblem(tag)}` : undefined) ??
    (name.length > MAX_NAME_LENGTH
      ? `the name with its registry host is ${name.length} characters, more than ${MAX_NAME_LENGTH}`
      : undefined);
  if (bad === undefined) return { repository: targetRepository, reference };
  return { repository: targetRepository, reference, problem: `target ${reference}: ${bad}` };
}

/**
 * The argv (after the skopeo binary) that pushes one layout dir to `host/targetRepository:tag`.
 * Throws a plain Error (a bug, exit 1) when the inputs could make skopeo push under another name.
 *
 * Trust policy: skopeo always loads one and Debian may lack /etc/containers/policy.json (§5.1), so without
 * `policyFile` we pass `--insecure-policy`. The policy only judges the source (our own `dir:` layout, which
 * carries no signatures), so it would add nothing; a site policy defaulting to `reject` would fail every image.
 */
export function buildSyncArgs(opts: SyncArgsOptions): string[] {
  const { layoutDir, targetRepository } = opts;
  if (!path.posix.isAbsolute(layoutDir) || path.posix.normalize(layoutDir) !== layoutDir || layoutDir.endsWith('/')) {
    throw new Error(`layout dir must be absolute and clean, got ${JSON.stringify(layoutDir)}`);
  }
  const bad = repositoryNameProblem(targetRepository);
  if (bad) throw new Error(`target repository ${JSON.stringify(targetRepository)}: ${bad}`);
  const base = path.posix.basename(layoutDir);
  const repoBase = path.posix.basename(targetRepository);
  const tag = base.startsWith(`${repoBase}:`) ? base.slice(repoBase.length + 1) : undefined;
  // `<repo>@sha256:<hex>`: an untagged referrer, pushed by digest (§5.3).
  const byDigest = base.startsWith(`${repoBase}@`) && /^sha256:[a-f0-9]{64}$/.test(base.slice(repoBase.length + 1));
  if (!byDigest && (tag === undefined || tagProblem(tag) !== undefined)) {
    // skopeo names the image after the dir (§5.3), so any other basename pushes somewhere else.
    throw new Error(`layout dir ${layoutDir} must be named "${repoBase}:<tag>" (or "${repoBase}@sha256:<hex>") to push to ${targetRepository}`);
  }
  const parent = path.posix.dirname(targetRepository);
  const destination = parent === '.' ? opts.target.host : `${opts.target.host}/${parent}`;

  const args = opts.policyFile !== undefined ? ['--policy', opts.policyFile] : ['--insecure-policy'];
  // --all: indexes stay indexes; --preserve-digests: fail rather than rewrite content (§5.4).
  args.push('sync', '--src', 'dir', '--dest', 'docker', '--all', '--preserve-digests');
  if (opts.retryTimes !== undefined) {
    if (!Number.isInteger(opts.retryTimes) || opts.retryTimes < 0) {
      throw new Error(`retryTimes must be an integer >= 0, got ${opts.retryTimes}`);
    }
    args.push('--retry-times', String(opts.retryTimes));
  }
  if (opts.authFile !== undefined) args.push('--dest-authfile', opts.authFile);
  if (opts.certDir !== undefined) args.push('--dest-cert-dir', opts.certDir);
  if (!opts.tlsVerify) args.push('--dest-tls-verify=false');
  args.push(layoutDir, destination);
  return args;
}

/** Replaces the value of any credential flag with `***` (none is ever generated; defence in depth). */
export function redactArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const eq = arg.indexOf('=');
    if (eq !== -1 && SECRET_FLAGS.has(arg.slice(0, eq))) {
      out.push(`${arg.slice(0, eq)}=***`);
    } else if (SECRET_FLAGS.has(arg) && i + 1 < args.length) {
      out.push(arg, '***');
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** A copy-pasteable POSIX shell line for dry runs and reports (redacted, single-quoted where needed). */
export function formatCommand(bin: string, args: readonly string[]): string {
  return [bin, ...redactArgs(args)].map(shellQuote).join(' ');
}

function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
