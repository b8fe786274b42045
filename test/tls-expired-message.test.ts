/**
 * An expired target certificate: the message must not send the operator to --dest-cert-dir (a CA cannot make an
 * expired certificate valid, and a nightly job usually already passes the right one).
 */
import { describe, expect, it } from 'vitest';
import { classifyNetworkError } from '../src/registry/registry-errors.js';

const tlsError = (code: string, message: string): NodeJS.ErrnoException => Object.assign(new Error(message), { code });

describe('TLS failure messages', () => {
  it('an expired certificate names the fix (renew it, or the clock), not --dest-cert-dir', () => {
    const error = classifyNetworkError(tlsError('CERT_HAS_EXPIRED', 'certificate has expired'), '127.0.0.1:5000', 'dest-');
    expect(error?.message).toMatch(/^certificate of 127\.0\.0\.1:5000 has expired or is not yet valid \(certificate has expired\)/);
    expect(error?.message).toMatch(/renew the registry's certificate, or check this machine's clock/);
    expect(error?.message).not.toMatch(/--dest-cert-dir/);
    expect(error?.message).toMatch(/--dest-tls-verify=false/);
  });
  it('an untrusted certificate still points at --dest-cert-dir', () => {
    const error = classifyNetworkError(tlsError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), '127.0.0.1:5000', 'dest-');
    expect(error?.message).toMatch(/pass --dest-cert-dir DIR with its ca\.crt, or --dest-tls-verify=false$/);
  });
});
