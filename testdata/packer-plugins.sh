#!/usr/bin/env bash
# Builds HashiCorp's Packer plugins listed in testdata/packer-plugins.txt
# from the Go module proxy, for the tests that run them as external plugins.
#
# Output, cached by version (an executable already there is not rebuilt):
#   ${IMGBUILD_TEST_STATE:-/var/lib/imgbuild-test}/packer-plugins/<name>/<version>/packer-plugin-<name>
#
# `go install module@version` is refused for these modules (the proxy does
# not list their versions), so each is built from a scratch module that
# requires it at its exact version. The replace is the go-cty fork that
# Packer pins: the SDK gob-encodes cty values, which only the fork can do.
# All builds share the Go module and build caches; the downloads run side by
# side first, then the builds one at a time (each already uses every core).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STATE_DIR=${IMGBUILD_TEST_STATE:-/var/lib/imgbuild-test}
OUT=$STATE_DIR/packer-plugins
LIST=$HERE/packer-plugins.txt
CTY_REPLACE=github.com/zclconf/go-cty=github.com/nywilken/go-cty@v1.13.3

log() { printf 'packer-plugins: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
# Scratch folders and half binaries of a run that was killed (we hold the lock).
rm -rf "$OUT"/.work.* "$OUT"/*/*/packer-plugin-*.tmp

missing=()
while read -r name version _; do
  case $name in '' | '#'*) continue ;; esac
  [ -x "$OUT/$name/$version/packer-plugin-$name" ] || missing+=("$name:$version")
done <"$LIST"
[ ${#missing[@]} -eq 0 ] && exit 0

command -v go >/dev/null || die "go is not installed: the plugins are built from source (install Go >= 1.22)"
work=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
# The scratch modules must not pick up a go.work or flags from the caller.
export GOWORK=off GOFLAGS=-buildvcs=false

# fetch NAME VERSION: a scratch module in $work/NAME that requires the plugin.
fetch() {
  local name=$1 version=$2 dir=$work/$1
  mkdir -p "$dir"
  (
    cd "$dir"
    go mod init "imgbuild-test/packer-plugin-$name" >/dev/null 2>&1
    go mod edit -replace "$CTY_REPLACE"
    go get "github.com/hashicorp/packer-plugin-$name@v$version"
  ) >"$dir.log" 2>&1
}

start=$SECONDS
pids=()
for nv in "${missing[@]}"; do
  fetch "${nv%%:*}" "${nv#*:}" &
  pids+=($!)
done
failed=
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    log "go get packer-plugin-${missing[$i]%%:*}@v${missing[$i]#*:} failed:"
    cat "$work/${missing[$i]%%:*}.log" >&2
    failed=1
  fi
done
[ -z "$failed" ] || die "downloading plugin modules failed"
log "downloaded ${missing[*]} in $((SECONDS - start))s"

for nv in "${missing[@]}"; do
  name=${nv%%:*} version=${nv#*:}
  dst=$OUT/$name/$version/packer-plugin-$name
  mkdir -p "$(dirname "$dst")"
  start=$SECONDS
  # -s -w: no symbol tables, so linking (single-threaded) is shorter; the
  # binaries report the version as Packer's own build of them did (-dev).
  (cd "$work/$name" && go build -ldflags='-s -w' -o "$dst.tmp" "github.com/hashicorp/packer-plugin-$name") ||
    { rm -f "$dst.tmp"; die "building packer-plugin-$name $version failed"; }
  # Renamed only once complete: a killed build leaves no half binary.
  mv -f "$dst.tmp" "$dst"
  log "built packer-plugin-$name $version in $((SECONDS - start))s"
done
