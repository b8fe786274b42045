// Go's encoding/json refuses JSON nested deeper than 10000 levels ("exceeded max depth"), in unknown fields too:
// skopeo cannot push such a manifest, so it must not be `ok` (README: ok means skopeo pushes it unchanged).
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../src/core/manifest.js';

const base = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 2 },
  layers: [],
};
const nested = (levels: number) => JSON.stringify(base).replace(/}$/, `,"x":${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}`);

describe('parseManifest and JSON nesting', () => {
  it('refuses a manifest nested deeper than Go accepts', () => {
    const r = parseManifest(new TextEncoder().encode(nested(20_000)));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/nested 20001 levels deep, more than the 10000/);
  });
  it('accepts nesting Go accepts, and does not count brackets inside strings', () => {
    expect(parseManifest(new TextEncoder().encode(nested(9_000))).ok).toBe(true);
    const inString = JSON.stringify({ ...base, annotations: { x: '['.repeat(20_000) } });
    expect(parseManifest(new TextEncoder().encode(inString)).ok).toBe(true);
  });
});
