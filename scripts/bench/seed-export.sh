#!/bin/sh
# seed-export.sh STORAGE OUT: the shell loop people ran before registry-rescue (the issue's "seed"), reproduced
# as written, one process per step, for the benchmark's baseline. Do not improve it: its cost is the point.
# It greps every 64-hex string out of the manifest (so an index's children land as <hex>, not <hex>.manifest.json,
# and a digest in an annotation would be linked too), checks nothing, and writes no version file.
set -u
STORAGE=$1
OUT=$2
V2=$STORAGE/docker/registry/v2

find "$V2/repositories" -path '*/_manifests/tags/*/current/link' | while read -r link; do
  repo=$(echo "$link" | sed -e "s|^$V2/repositories/||" -e 's|/_manifests/tags/.*$||')
  tag=$(echo "$link" | awk -F/ '{ print $(NF-2) }')
  digest=$(cat "$link")
  hex=$(echo "$digest" | sed 's/^sha256://')
  manifest=$V2/blobs/sha256/$(echo "$hex" | cut -c1-2)/$hex/data
  dest=$OUT/$repo:$tag
  mkdir -p "$dest"
  ln -f "$manifest" "$dest/manifest.json"
  for h in $(grep -oE '[0-9a-f]{64}' "$manifest"); do
    ln -f "$V2/blobs/sha256/$(echo "$h" | cut -c1-2)/$h/data" "$dest/$h"
  done
done
