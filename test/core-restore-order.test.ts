import { describe, expect, it } from 'vitest';
import { orderForPush } from '../src/core/order.js';
import { referrersToExport, subjectOf } from '../src/core/referrers.js';
import type { Digest } from '../src/core/types.js';

const d = (c: string) => `sha256:${c.repeat(64)}` as Digest;

describe('orderForPush', () => {
  it('images oldest push first, then accessory tags oldest first; ties and unknown times by name, unknown last', () => {
    const entries = [
      { tag: 'latest', pushedAt: 300, accessory: false },
      { tag: 'sha256-aa.sig', pushedAt: 100, accessory: true },
      { tag: '1.0', pushedAt: 100, accessory: false },
      { tag: 'broken', pushedAt: undefined, accessory: false },
      { tag: '0.9', pushedAt: 100, accessory: false },
      { tag: 'sha256-bb.att', pushedAt: 50, accessory: true },
    ];
    expect(orderForPush(entries).map((i) => entries[i]?.tag)).toEqual(['0.9', '1.0', 'latest', 'broken', 'sha256-bb.att', 'sha256-aa.sig']);
    expect(orderForPush([])).toEqual([]);
  });
});

describe('referrersToExport', () => {
  it('keeps referrers of exported manifests and of such referrers (to a fixed point), subjects first', () => {
    const untagged = [
      { digest: d('3'), subject: d('2') }, // signature of the SBOM, listed before it
      { digest: d('2'), subject: d('1') }, // SBOM of the exported image
      { digest: d('4'), subject: d('9') }, // refers to something not exported
      { digest: d('5'), subject: undefined }, // an old revision, no subject
      { digest: d('6'), subject: d('6') }, // refers to itself: never
    ];
    expect(referrersToExport(untagged, new Set([d('1')]))).toEqual([
      { digest: d('2'), subject: d('1') },
      { digest: d('3'), subject: d('2') },
    ]);
    expect(referrersToExport(untagged, new Set())).toEqual([]);
  });

  it('reads a subject digest, and nothing from malformed manifests', () => {
    expect(subjectOf(Buffer.from(JSON.stringify({ schemaVersion: 2, subject: { digest: d('a'), size: 1 } })))).toBe(d('a'));
    expect(subjectOf(Buffer.from(JSON.stringify({ subject: { digest: 'sha256:short' } })))).toBeUndefined();
    expect(subjectOf(Buffer.from('{"subject": null}'))).toBeUndefined();
    expect(subjectOf(Buffer.from('not json'))).toBeUndefined();
  });
});
