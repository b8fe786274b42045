import { describe, expect, it } from 'vitest';
import { classifySkopeoFailure, cleanSkopeoOutput, failureAfterRetries, tailOfOutput, extractMessage, type SkopeoFailureReason } from '../src/core/skopeo-failure.js';
import { troubleOfSkopeoFailure } from '../src/core/breaker.js';

// logrus quotes values like Go's %q; for these ASCII texts JSON.stringify produces the same bytes.
const T = 'time="2025-05-01T10:00:00Z"';
const fatal = (msg: string): string => `${T} level=fatal msg=${JSON.stringify(msg)}`;
const copyFailed = (err: string): string => fatal(`Error copying ref "dir:/srv/export/proj/app:1.0": ${err}`);
const H = '127.0.0.1:35123';

// Texts from docs/storage-and-skopeo.md §2.5, §2.4, §3.3, §4.2, §5.3, §5.6, §5.7, §5.8 (skopeo 1.9.3).
const CASES: [string, string, SkopeoFailureReason, boolean][] = [
  [
    'parallel push race (§5.6)',
    'trying to reuse blob sha256:c7e5aa at destination: failed to read from destination repository par/same: 500 (Internal Server Error)',
    'parallel-push-race', true,
  ],
  [
    'unauthorized (§5.8)',
    `checking whether a blob sha256:c7e5aa exists in ${H}/d5/app: unauthorized: authentication required`,
    'unauthorized', false,
  ],
  ['expired token (§3.3)', 'writing manifest: unauthorized: token is expired', 'unauthorized', true],
  [
    'x509 (§5.8)',
    `trying to reuse blob sha256:c7e5aa at destination: pinging container registry ${H}: Get "https://${H}/v2/": x509: certificate signed by unknown authority`,
    'tls-untrusted', false,
  ],
  [
    'plain http target with TLS verification on',
    `pinging container registry ${H}: Get "https://${H}/v2/": http: server gave HTTP response to HTTPS client`,
    'tls-untrusted', false,
  ],
  [
    'connection refused (§5.8)',
    `trying to reuse blob sha256:c7e5aa at destination: pinging container registry ${H}: Get "https://${H}/v2/": dial tcp ${H}: connect: connection refused`,
    'unreachable', true,
  ],
  ['502 from a proxy', 'writing manifest: received unexpected HTTP status: 502 Bad Gateway', 'unreachable', true],
  [
    'target killed during an upload (Go net/http EOF)',
    `writing blob: Patch "http://${H}/v2/library/alpine-like/blobs/uploads/0f3a?_state=x": EOF`,
    'unreachable', true,
  ],
  ['target gone while a manifest is written', `writing manifest: Put "http://${H}/v2/a/manifests/1.0": unexpected EOF`, 'unreachable', true],
  [
    'layer digest mismatch (§4.2)',
    'writing blob: Patch "http://h/v2/x/blobs/uploads/u": happened during read: Digest did not match, expected sha256:726c, got sha256:233d',
    'corrupt-source', false,
  ],
  [
    'config digest mismatch (§4.2)',
    'reading config blob sha256:f5a6: Download config.json digest sha256:ca3d does not match expected sha256:f5a6',
    'corrupt-source', false,
  ],
  [
    'child manifest mismatch (§4.2)',
    'copying image 2/2 from manifest list: Manifest does not match provided manifest digest sha256:b92e',
    'corrupt-source', false,
  ],
  [
    'missing layer (§4.2)',
    'reading blob sha256:1423: open /srv/export/proj/app:1.0/1423: no such file or directory',
    'missing-file', false,
  ],
  [
    'missing child manifest (§4.2)',
    'copying image 2/2 from manifest list: determining manifest MIME type for dir:ex/mmiss: open ex/mmiss/b92e.manifest.json: no such file or directory',
    'missing-file', false,
  ],
  [
    'artifactType index with --preserve-digests (§5.4)',
    'Manifest list must be converted to type "application/vnd.oci.image.index.v1+json" to be written to destination, but we cannot modify it: "Instructed to preserve digests"',
    'preserve-digests', false,
  ],
  [
    'deleted index child (§2.5)',
    `reading manifest sha256:3c54 in ${H}/multi/oci-index: manifest unknown: manifest unknown`,
    'manifest-unknown', false,
  ],
  ['Harbor proxy project (§3.3)', 'writing manifest: denied: can not push artifact to a proxy project: dockerhub', 'proxy-project', false],
  // skopeo 1.9.3's own words for Harbor's immutable-tag 412 (src/server/middleware/immutable/error.go), seen in test/sync-harbor-policy.test.ts.
  ['Harbor immutable tag', "writing manifest: uploading manifest 1.0 to harbor.example.com/locked/b/app: unknown: Failed to process request due to 'b/app:1.0' configured as immutable.", 'immutable', false],
  ['denied', 'writing manifest: denied: requested access to the resource is denied', 'denied', false],
  [
    'schema1 rejected (§2.4): a 500 that is not the race',
    `writing manifest: uploading manifest v1 to ${H}/schema1/test: received unexpected HTTP status: 500 Internal Server Error`,
    'server-error', true,
  ],
  [
    // registry-rescue pushes one image per repository at a time: a bare 500 there is the target's trouble (here its
    // disk is full, "no space left on device" in its log), not the race; still worth another try.
    'a full target disk: a 500 that is not the race',
    'failed to read from destination repository full/app: 500 (Internal Server Error)',
    'server-error', true,
  ],
  ['a bare 5xx from the destination is a transient server error', 'failed to read from destination repository full/app: 507', 'server-error', true],
  // skopeo 1.9.3's words, seen through test/helpers/fault-proxy.ts in front of a real docker-registry (test/faults-target.test.ts).
  [
    'a 500 to the blob upload (a full target disk)',
    `writing blob: initiating layer upload to /v2/ml/backend/blobs/uploads/ in ${H}: received unexpected HTTP status: 500 Internal Server Error`,
    'server-error', true,
  ],
  [
    'a 500 to the manifest PUT (a full target disk)',
    `writing manifest: uploading manifest latest to ${H}/ml/backend: received unexpected HTTP status: 500 Internal Server Error`,
    'server-error', true,
  ],
  ['a 501 is a server error too', 'writing manifest: received unexpected HTTP status: 501 Not Implemented', 'server-error', true],
  ['a 507 Insufficient Storage', 'writing blob: received unexpected HTTP status: 507 Insufficient Storage', 'server-error', true],
  ['a 429 is a rate limit, not a server error', 'writing blob: received unexpected HTTP status: 429 Too Many Requests', 'unknown', true],
  ['toomanyrequests is a rate limit', 'writing manifest: toomanyrequests: slow down', 'unknown', true],
  ['a bare 503 is not a server error of the target itself', 'failed to read from destination repository full/app: 503', 'unknown', true],
  ['local permission problem is not a registry denial', 'open /srv/export/app:1/abc: permission denied', 'unknown', false],
];

describe('classifySkopeoFailure', () => {
  it.each(CASES)('%s', (_name, err, reason, transient) => {
    const result = classifySkopeoFailure(`${T} level=info msg="Copying image ref 1/1"\n${copyFailed(err)}\n`);
    // Upload session URLs carry the upload's id and state token: messages keep only their path up to uploads/.
    expect(result).toEqual({ reason, transient, message: cleanSkopeoOutput(err) });
  });

  // What the circuit breaker counts (breaker.ts): the target's own server errors and unreachability, nothing else.
  it.each([
    ['a 500 counts, with its status', 'writing manifest: received unexpected HTTP status: 500 Internal Server Error', { kind: 'server-error', status: 500 }],
    ['a bare 507 counts', 'failed to read from destination repository full/app: 507', { kind: 'server-error', status: 507 }],
    ['a 502 counts as unreachable, as before', 'writing manifest: received unexpected HTTP status: 502 Bad Gateway', { kind: 'unreachable' }],
    ['a 429 does not count', 'writing blob: received unexpected HTTP status: 429 Too Many Requests', undefined],
    [
      // Retried within its image first: one that outlasted the retries is the target's 500 to skopeo's blob HEAD.
      'a 500 to skopeo\'s blob-reuse HEAD (the race\'s wording) counts, once its retries are spent',
      'trying to reuse blob sha256:c7e5aa at destination: failed to read from destination repository par/same: 500 (Internal Server Error)',
      { kind: 'server-error', status: 500 },
    ],
    ['a corrupt source blob does not count', 'writing blob: happened during read: Digest did not match, expected sha256:726c, got sha256:233d', undefined],
    ['a denial does not count', 'writing manifest: denied: requested access to the resource is denied', undefined],
    ['an unknown manifest does not count', `reading manifest sha256:3c54 in ${H}/multi/oci-index: manifest unknown: manifest unknown`, undefined],
  ])('for the circuit breaker: %s', (_name, err, trouble) => {
    expect(troubleOfSkopeoFailure(classifySkopeoFailure(copyFailed(err)))).toEqual(trouble);
  });

  // The code a failed image carries once its retries are spent: a 500 has one name whichever request met it.
  it.each([
    ['the race\'s wording becomes server-error', 'trying to reuse blob sha256:c7e5aa at destination: failed to read from destination repository par/same: 500 (Internal Server Error)', 'server-error', true],
    ['a server error stays one', 'writing manifest: received unexpected HTTP status: 500 Internal Server Error', 'server-error', true],
    ['an unrelated failure is left alone', 'writing manifest: denied: requested access to the resource is denied', 'denied', false],
  ])('after the retries: %s', (_name, err, reason, transient) => {
    const f = classifySkopeoFailure(copyFailed(err));
    expect(failureAfterRetries(f)).toEqual({ reason, transient, message: f.message });
  });

  it('removes upload URLs and _state tokens from what reports and logs keep, and nothing else', () => {
    const text = 'Patch "https://h:5000/v2/p/app/blobs/uploads/8f3a-11?_state=c2VjcmV0&digest=sha256:aa": EOF; _state=abc rest';
    expect(cleanSkopeoOutput(text)).toBe('Patch "https://h:5000/v2/p/app/blobs/uploads/…": EOF; _state=… rest');
    expect(tailOfOutput('a\nb\nc\n', 2)).toBe('b\nc');
  });

  it('classifies an invalid name that aborted the whole run (§5.3)', () => {
    const msg = `Cannot obtain a valid image reference for transport "docker" and reference "//${H}/st/App:1.0": invalid reference format: repository name must be lowercase`;
    expect(classifySkopeoFailure(fatal(msg))).toEqual({ reason: 'invalid-reference', transient: false, message: msg });
  });

  it('reads the per-image error with --keep-going, not the generic fatal line (§5.8)', () => {
    const stderr = [
      `${T} level=error msg="Error copying ref \\"dir:/e/proj/app:1.0\\"" error="reading blob sha256:726c: open /e/proj/app:1.0/726c: no such file or directory"`,
      fatal('Sync failed due to previous reported error(s) for one or more images'),
    ].join('\n');
    expect(classifySkopeoFailure(stderr)).toEqual({
      reason: 'missing-file',
      transient: false,
      message: 'reading blob sha256:726c: open /e/proj/app:1.0/726c: no such file or directory',
    });
  });

  it('prefers the fatal cause over earlier retry warnings', () => {
    const stderr = [
      `${T} level=warning msg="Failed, retrying in 1s ... (1/2). Error: dial tcp ${H}: connect: connection refused"`,
      copyFailed(`checking whether a blob sha256:c7 exists in ${H}/d5/app: unauthorized: authentication required`),
    ].join('\n');
    expect(classifySkopeoFailure(stderr).reason).toBe('unauthorized');
  });

  it('unescapes Go quoting, including multi-line errors (§5.7 malformed auth.json)', () => {
    const stderr = `${T} level=fatal msg="Error copying ref \\"dir:/e/a:1\\": getting username and password: 1 error occurred:\\n\\t* reading JSON file \\"auth-bad.json\\": unmarshaling JSON at \\"auth-bad.json\\": unexpected end of JSON input\\n\\n"`;
    const result = classifySkopeoFailure(stderr);
    expect(result.message).toBe(
      'getting username and password: 1 error occurred:\n\t* reading JSON file "auth-bad.json": unmarshaling JSON at "auth-bad.json": unexpected end of JSON input',
    );
    expect(result).toMatchObject({ reason: 'unknown', transient: false });
  });

  it.each([
    ['\\u00e9t\\u00e9 \\U0001F600', 'été 😀'],
    ['caf\\xc3\\xa9', 'café'],
    ['bad \\xff byte', 'bad \uFFFD byte'],
    ['back\\\\slash \\q', 'back\\slash \\q'],
  ])('unescapes %s', (quoted, expected) => {
    expect(extractMessage(`${T} level=fatal msg="${quoted}"`)).toBe(expected);
  });

  it('reads unquoted values and non-logrus output', () => {
    expect(extractMessage(`${T} level=fatal msg=boom`)).toBe('boom');
    const panic = 'panic: runtime error: index out of range\n\ngoroutine 1 [running]:\n  main.go:1\n';
    expect(extractMessage(panic)).toBe('panic: runtime error: index out of range');
    expect(extractMessage('some output\nlast words\n')).toBe('last words');
    expect(classifySkopeoFailure('')).toEqual({ reason: 'unknown', transient: false, message: '' });
  });

  it('falls back to all of stderr when the message says nothing known', () => {
    const stderr = `${T} level=warning msg="Failed, retrying: dial tcp ${H}: connect: connection refused"\n${fatal('something odd')}`;
    expect(classifySkopeoFailure(stderr)).toEqual({ reason: 'unreachable', transient: true, message: 'something odd' });
  });

  it('reports our own timeout as a transient timeout', () => {
    expect(classifySkopeoFailure('', { timedOut: true })).toEqual({
      reason: 'timeout',
      transient: true,
      message: 'skopeo was stopped by the timeout',
    });
    expect(classifySkopeoFailure(copyFailed('context deadline exceeded')).reason).toBe('timeout');
  });

  it('caps very long messages', () => {
    expect(extractMessage(fatal('x'.repeat(5000))).length).toBe(2001);
  });
});
