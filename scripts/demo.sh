#!/usr/bin/env bash
# npm run demo: the main job on the bundled sample storage (fixtures/storage, written by a real
# docker-registry, with some images deliberately broken): list it, export it, show a layout, then
# push everything into a throwaway docker-registry on 127.0.0.1, verify the copy, and stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
rr() { ./bin/registry-rescue.js "$@"; }
# Bold headings at a terminal only (NO_COLOR respected): piped or logged, plain text.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
  step() { printf '\n==> %s\n' "$*"; }
fi
# The sample storage has broken images on purpose, so list/export/sync end with exit code 4.
expect4() { local rc=0; "$@" || rc=$?; [ "$rc" -eq 4 ] || { echo "demo: expected exit code 4, got $rc" >&2; exit 1; }; echo "(exit code 4: some images are broken, as planted in the sample)"; }

for tool in skopeo docker-registry; do
  command -v "$tool" >/dev/null || { echo "demo: $tool is missing: sudo apt-get install -y skopeo docker-registry" >&2; exit 1; }
done

work=$(mktemp -d -p "$PWD" .demo-XXXXXX)
registry_pid=""
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A copy of the sample storage beside the export dir: same filesystem, so hard links work.
cp -a fixtures/storage "$work/storage"

step "registry-rescue list $work/storage"
expect4 rr list "$work/storage"

step "registry-rescue export $work/storage --out $work/export --dry-run"
expect4 rr export "$work/storage" --out "$work/export" --dry-run --quiet

step "registry-rescue export $work/storage --out $work/export"
expect4 rr export "$work/storage" --out "$work/export"

step "one layout: hard links to the registry's blobs (same inode numbers), no data copied"
layout="$work/export/multi/oci-index:1.0"
ls -li "$layout"
echo "manifest.json inode: $(stat -c %i "$layout/manifest.json"), links: $(stat -c %h "$layout/manifest.json")"

step "a throwaway registry on 127.0.0.1"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
cat > "$work/registry.yml" <<YAML
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $work/target }, delete: { enabled: true } }
http: { addr: "127.0.0.1:$port", secret: demo }
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
echo "docker-registry (pid $registry_pid) listening on 127.0.0.1:$port"

step "registry-rescue sync --to 127.0.0.1:$port --dest-tls-verify=false"
expect4 rr sync "$work/storage" --out "$work/export" --to "127.0.0.1:$port" --dest-tls-verify=false --report "$work/report.json"

step "registry-rescue sync again: what arrived is up to date (no skopeo started); the corrupt image fails again"
expect4 rr sync "$work/storage" --out "$work/export" --to "127.0.0.1:$port" --dest-tls-verify=false

step "registry-rescue verify --to 127.0.0.1:$port"
expect4 rr verify "$work/storage" --to "127.0.0.1:$port" --dest-tls-verify=false

step "done: the report of the first sync, summarized"
node -e 'const r=require(process.argv[1]); console.log(JSON.stringify(r.summary, null, 2))' "$work/report.json"
