#!/usr/bin/env bash
# Builds and starts the S3-compatible server the shared-cache tests use:
# versity's S3 gateway (versitygw, Apache-2.0) on a posix folder, on
# loopback. Idempotent: a built binary is reused (cached by version), a
# running server is left alone.
#
#   ${IMGBUILD_TEST_STATE:-/var/lib/imgbuild-test}/versitygw/<version>/versitygw
#   endpoint    http://127.0.0.1:5070 (internal/testenv.S3)
#   credentials imgbuild-test / imgbuild-test-secret (a test-only server)
#   objects     $STATE_DIR/s3/root/<bucket>/...   log: $STATE_DIR/s3.log
#
# `go install module@version` cannot build it (its go.mod has replace
# directives), so it is built from a scratch module that requires it.
set -euo pipefail

VERSION=v1.8.0
STATE_DIR=${IMGBUILD_TEST_STATE:-/var/lib/imgbuild-test}
ADDR=${IMGBUILD_S3_ADDR:-127.0.0.1:5070}
ACCESS=imgbuild-test
SECRET=imgbuild-test-secret
BIN=$STATE_DIR/versitygw/$VERSION/versitygw

log() { printf 's3-server: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$STATE_DIR/versitygw"
exec 9>"$STATE_DIR/versitygw/.lock"
flock 9

if [ ! -x "$BIN" ]; then
  command -v go >/dev/null || die "go is not installed: versitygw is built from source"
  work=$(mktemp -d "$STATE_DIR/versitygw/.work.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  log "building versitygw $VERSION (a few minutes)"
  (
    cd "$work"
    export GOWORK=off GOFLAGS=-buildvcs=false
    go mod init imgbuild-test/versitygw >/dev/null 2>&1
    go get "github.com/versity/versitygw/cmd/versitygw@$VERSION"
    nice go build -o "$work/versitygw" github.com/versity/versitygw/cmd/versitygw
  ) >"$work.log" 2>&1 || { cat "$work.log" >&2; rm -f "$work.log"; die "building versitygw failed"; }
  rm -f "$work.log"
  mkdir -p "$(dirname "$BIN")"
  mv "$work/versitygw" "$BIN"
fi

up() { curl -s -o /dev/null "http://$ADDR/"; }
if ! up; then
  mkdir -p "$STATE_DIR/s3/root" "$STATE_DIR/s3/meta"
  log "starting versitygw on $ADDR"
  # setsid: the server must outlive the shell that started it.
  ROOT_ACCESS_KEY_ID=$ACCESS ROOT_SECRET_ACCESS_KEY=$SECRET \
    setsid "$BIN" --port "$ADDR" posix --sidecar "$STATE_DIR/s3/meta" "$STATE_DIR/s3/root" \
    >"$STATE_DIR/s3.log" 2>&1 </dev/null 9>&- &
  for _ in $(seq 150); do up && break; sleep 0.2; done
  up || die "versitygw did not come up on $ADDR (see $STATE_DIR/s3.log)"
fi
