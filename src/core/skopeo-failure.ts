/**
 * Why a `skopeo sync` failed, read from its stderr (pure). skopeo 1.9.3 exits 1 for every failure, so the
 * logrus lines are the only source of the cause (storage-and-skopeo.md §5.8).
 */

export type SkopeoFailureReason =
  | 'parallel-push-race'
  | 'unauthorized'
  | 'denied'
  | 'proxy-project'
  | 'immutable'
  | 'tls-untrusted'
  | 'unreachable'
  | 'corrupt-source'
  | 'missing-file'
  | 'preserve-digests'
  | 'invalid-reference'
  | 'manifest-unknown'
  | 'timeout'
  | 'server-error'
  | 'unknown';

/** A classified failure: `transient` means running the same command again may succeed. */
export interface SkopeoFailure {
  reason: SkopeoFailureReason;
  transient: boolean;
  /** The error text skopeo logged (unescaped, without the `Error copying ref "dir:…": ` prefix). */
  message: string;
}

/** HTTP statuses of a target's own server error: 500, 501, 505-599 (not the gateway's 502, 503, 504). */
const SERVER_ERROR = '5(?:0[015-9]|[1-9]\\d)';

interface Rule {
  reason: SkopeoFailureReason;
  transient: boolean;
  test: RegExp;
}

/**
 * First match wins, so specific fragments come before generic ones: the race and proxy texts also contain
 * "500"/"denied", and TLS or auth failures are often wrapped in "trying to reuse blob …".
 */
const RULES: readonly Rule[] = [
  // §5.3: a bad name aborts the whole run before any copy.
  { reason: 'invalid-reference', transient: false, test: /invalid reference format|Cannot obtain a valid image reference/ },
  { reason: 'preserve-digests', transient: false, test: /Instructed to preserve digests/ },
  // §3.3: Harbor proxy-cache projects refuse pushes ("denied: can not push artifact to a proxy project: p").
  { reason: 'proxy-project', transient: false, test: /can not push artifact to a proxy project/ },
  // Harbor's immutable-tag rule refuses a manifest PUT onto an existing immutable tag with 412 PRECONDITION
  // "Failed to process request due to '<repo>:<tag>' configured as immutable." (src/server/middleware/immutable/
  // pushmf.go, error.go), even for the same digest; the same again would be refused again.
  { reason: 'immutable', transient: false, test: /configured as immutable|\b412 Precondition Failed/ },
  // §5.6: half-written link read by a parallel push; --retry-times does not retry it, a re-run does. Only with the
  // race's own evidence: the 500 on the HEAD of skopeo's blob-reuse check, or Distribution's detail. Any other 500
  // from the destination (a full disk: "no space left on device" in its log) is a server-error below.
  {
    reason: 'parallel-push-race',
    transient: true,
    test: /trying to reuse blob \S+ at destination: failed to read from destination repository \S+: 500\b|invalid checksum digest format/,
  },
  // §3.3: Harbor tokens expire after 30 min during long pushes (harbor#18860, #10325): a re-run gets a new one.
  { reason: 'unauthorized', transient: true, test: /token (?:is )?expired/i },
  // Bad or missing credentials, or a missing Harbor project (§3.3): retrying does not help.
  { reason: 'unauthorized', transient: false, test: /unauthorized|authentication required|\b401 Unauthorized/i },
  // A registry refusal ("denied: requested access to the resource is denied"), not a local EACCES.
  { reason: 'denied', transient: false, test: /\bdenied: |requested access to the resource is denied|\b403 Forbidden/ },
  {
    reason: 'tls-untrusted',
    transient: false,
    test: /x509:|certificate signed by unknown authority|server gave HTTP response to HTTPS client|tls: /,
  },
  {
    reason: 'timeout',
    transient: true,
    test: /context deadline exceeded|Client\.Timeout exceeded|timeout awaiting response headers|TLS handshake timeout/,
  },
  {
    reason: 'unreachable',
    transient: true,
    // `Patch "…": EOF` is Go's net/http when the target closed the connection mid-request (a registry killed
    // or restarted during an upload): the next attempt reaches it again.
    test: /(?:Get|Head|Post|Put|Patch|Delete) "[^"]*": (?:unexpected )?EOF\b|connection refused|no such host|network is unreachable|no route to host|connection reset by peer|i\/o timeout|broken pipe|\b50[234]\b (?:\()?(?:Bad Gateway|Service Unavailable|Gateway Timeout)/,
  },
  // §4.2: layer, config or child content does not hash to its name.
  {
    reason: 'corrupt-source',
    transient: false,
    test: /Digest did not match|does not match expected|Manifest does not match provided manifest digest/,
  },
  { reason: 'missing-file', transient: false, test: /no such file or directory/ },
  { reason: 'manifest-unknown', transient: false, test: /manifest unknown|MANIFEST_UNKNOWN/i },
  // The target's own server error (500, 501, 505-599; 502-504 are a gateway saying the registry behind it is gone,
  // above): a full disk (Distribution answers 500 to the upload or the manifest PUT) or a broken storage backend.
  // skopeo 1.9.3 ignores the body of a 5xx and says `received unexpected HTTP status: 500 Internal Server Error`.
  // Worth one more try; many in a row trip the circuit breaker (breaker.ts).
  {
    reason: 'server-error',
    transient: true,
    test: new RegExp(`HTTP status: ${SERVER_ERROR}\\b|\\b${SERVER_ERROR} \\(?[A-Z][a-z]+|failed to read from destination repository \\S+: ${SERVER_ERROR}\\b`),
  },
  // Rate limits (429) and a 5xx in no form above: the server's trouble, worth one more try, but no sign the target
  // as a whole is failing (a 429 is the target protecting itself, and it passes).
  {
    reason: 'unknown',
    transient: true,
    test: /\b5\d\d \(?(?:Internal Server Error|[A-Z][a-z]+)|HTTP status: 5\d\d|failed to read from destination repository \S+: 5\d\d\b|\b429\b|toomanyrequests/,
  },
];

/**
 * What a failure left after every retry is reported and counted as. skopeo words a 500 to its blob-reuse HEAD exactly
 * as the parallel-push race (§5.6), which passes on the next attempt; still there after the retries (registry-rescue
 * pushes one image per repository at a time), it is the target answering 500 to that HEAD: its own server error,
 * one code and one count with a 500 to any other request.
 */
export function failureAfterRetries(f: SkopeoFailure): SkopeoFailure {
  return f.reason === 'parallel-push-race' ? { ...f, reason: 'server-error' } : f;
}

const SYNC_FAILED = /^Sync failed due to previous reported error/;
const COPY_PREFIX = /^Error copying ref "(?:[^"\\]|\\.)*": /;
const MAX_MESSAGE = 2000;

/** Classifies a failed skopeo run from its stderr; `timedOut` (our own timeout) wins over the text. */
export function classifySkopeoFailure(stderr: string, opts: { timedOut?: boolean } = {}): SkopeoFailure {
  const message = extractMessage(stderr);
  if (opts.timedOut) {
    return { reason: 'timeout', transient: true, message: message || 'skopeo was stopped by the timeout' };
  }
  // The message is the cause; fall back to all of stderr only when it says nothing we know.
  for (const text of [message, stderr]) {
    const rule = RULES.find((r) => r.test.test(text));
    if (rule) return { reason: rule.reason, transient: rule.transient, message };
  }
  return { reason: 'unknown', transient: false, message };
}

/**
 * The error skopeo logged: the per-image `level=error … error="…"` (with `--keep-going`), else the last
 * `level=fatal msg="…"`, else a panic headline or the last non-empty line.
 */
export function extractMessage(stderr: string): string {
  let fatal: string | undefined;
  let error: string | undefined;
  const lines = stderr.split(/\r?\n/);
  for (const line of lines) {
    const fields = parseLogfmt(line);
    const level = fields.get('level');
    if (level === 'fatal' && fields.has('msg')) fatal = fields.get('msg');
    if (level === 'error') error = fields.get('error') ?? fields.get('msg') ?? error;
  }
  let message = fatal !== undefined && !SYNC_FAILED.test(fatal) ? fatal : (error ?? fatal);
  const plain = lines.map((l) => l.trim()).filter(Boolean);
  // No logrus line: a Go panic ("panic: …" then a stack) or a usage error; take its headline.
  message ??= plain.find((l) => /^(?:panic|fatal error|Error):/.test(l)) ?? plain.at(-1) ?? '';
  message = cleanSkopeoOutput(message.replace(COPY_PREFIX, '').trim());
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
}

/** Parses a logrus text line (`time="…" level=fatal msg="…"`): values are bare or Go-quoted (`%q`). */
function parseLogfmt(line: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const m of line.matchAll(/(?:^|\s)([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const raw = m[2] as string;
    fields.set(m[1] as string, raw.startsWith('"') ? unquoteGo(raw.slice(1, -1)) : raw);
  }
  return fields;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'",
};

const HEX_DIGITS: Record<string, number> = { x: 2, u: 4, U: 8 };

/** Undoes Go's strconv.Quote escaping (logrus quotes values with `%q`); `\xNN` are raw bytes. */
function unquoteGo(s: string): string {
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  const text = (t: string): void => {
    bytes.push(...encoder.encode(t));
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    const e = s[i + 1];
    if (c !== '\\' || e === undefined) {
      text(c);
      i += 1;
      continue;
    }
    const digits = HEX_DIGITS[e];
    const hex = digits === undefined ? '' : s.slice(i + 2, i + 2 + digits);
    if (e in SIMPLE_ESCAPES) {
      text(SIMPLE_ESCAPES[e] as string);
      i += 2;
    } else if (digits !== undefined && hex.length === digits && /^[0-9a-fA-F]+$/.test(hex)) {
      const v = Number.parseInt(hex, 16);
      if (e === 'x') bytes.push(v);
      else text(v <= 0x10ffff ? String.fromCodePoint(v) : '\uFFFD');
      i += 2 + digits;
    } else {
      text(`\\${e}`);
      i += 2;
    }
  }
  // Invalid UTF-8 from \xNN escapes decodes to U+FFFD instead of failing.
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/**
 * skopeo's output without what must not end up in reports and logs: upload session URLs (they carry the
 * upload's UUID and Distribution's signed `_state` token, which resumes or hijacks the upload) and any
 * `_state=` value. Digests, repository names and error texts stay.
 */
export function cleanSkopeoOutput(text: string): string {
  return text
    .replace(/(https?:\/\/[^\s"'\\]*\/blobs\/uploads\/)[^\s"'\\]*/g, '$1…')
    .replace(/_state=[^&\s"'\\]*/g, '_state=…');
}

/** The last `lines` lines of skopeo's output, cleaned: what a report shows of a failed push. */
export function tailOfOutput(text: string, lines = 15): string {
  return cleanSkopeoOutput(text.trimEnd().split(/\r?\n/).slice(-lines).join('\n'));
}
