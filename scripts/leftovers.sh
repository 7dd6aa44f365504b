#!/usr/bin/env bash
# leftovers.sh snapshot FILE | check FILE
#
# What the test suite must not leave behind, compared before and after
# it (make test): containers and images on both test engines, QEMU
# processes, buckets on the test S3 server, tags in the test registries,
# and imgbuild's files in the temporary directory. Each test checks its
# own resources; this catches what no test looks at (a test's own
# clean-up that misses, a helper's fixture).
#
# Fixtures the tests build once and keep on purpose are not leftovers:
# images named imgbuild-base, local/*, imgbuild-test-sshd:*, and the test
# binary cache imgbuild-test-bin-*.
#
# check exits 1 when something is new under IMGBUILD_E2E=1 (CI, a fresh
# machine); elsewhere it warns, since a developer's own containers or
# builds may have come and gone meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."

S3_ENDPOINT=${IMGBUILD_TEST_S3_ENDPOINT:-http://127.0.0.1:5070}
S3_KEYS=${IMGBUILD_TEST_S3_ACCESS_KEY:-imgbuild-test}:${IMGBUILD_TEST_S3_SECRET_KEY:-imgbuild-test-secret}
REGISTRIES=("127.0.0.1:5000 -" "127.0.0.1:5001 imgbuild:imgbuild-registry-pw-4Kd")
FIXTURES='^(imgbuild-base|local/[^ ]*|imgbuild-test-sshd):'

# engine_state LABEL: the containers and the images (by id, those named
# only as fixtures left out) of the engine DOCKER_HOST names.
engine_state() {
  local label=$1
  docker info >/dev/null 2>&1 || return 0
  docker ps -aq --no-trunc | sed "s|^|container $label |"
  docker images -a --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}' |
    awk -v fx="$FIXTURES" '{ split($2, a, " "); if ($2 ~ fx) fixture[$1] = 1; else other[$1] = $2 }
      END { for (id in other) if (!(id in fixture)) print id, other[id] }' |
    sed "s|^|image $label |"
}

registry_state() {
  local addr=$1 auth=$2 repos repo
  local -a curl_auth=()
  [ "$auth" = - ] || curl_auth=(-u "$auth")
  # The catalog comes in pages of at most 1000 repositories.
  local last= page
  repos=
  while page=$(curl -sf "${curl_auth[@]}" "http://$addr/v2/_catalog?n=1000&last=$last" 2>/dev/null |
    grep -o '"repositories":\[[^]]*\]' | grep -o '"[^"]*"' | tr -d '"' | grep -v '^repositories$') &&
    [ -n "$page" ]; do
    repos+=$page$'\n'
    [ "$(wc -l <<<"$page")" -ge 1000 ] || break
    last=$(tail -1 <<<"$page")
  done
  for repo in $repos; do
    curl -sf "${curl_auth[@]}" "http://$addr/v2/$repo/tags/list" 2>/dev/null |
      grep -o '"tags":\[[^]]*\]' | grep -o '"[^"]*"' | tr -d '"' | grep -v '^tags$' |
      sed "s|^|tag $addr/$repo:|" || true
  done
}

state() {
  (unset DOCKER_HOST; engine_state host)
  local modern
  modern=$(bash testdata/docker-modern.sh socket)
  DOCKER_HOST=$modern engine_state modern
  pgrep -f qemu-system | sed 's/^/qemu-process /' || true
  curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user "$S3_KEYS" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    "$S3_ENDPOINT/" 2>/dev/null | grep -o '<Name>[^<]*</Name>' | sed 's/<[^>]*>//g; s/^/bucket /' || true
  local r
  for r in "${REGISTRIES[@]}"; do
    # shellcheck disable=SC2086
    registry_state $r
  done
  find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'imgbuild*' ! -name 'imgbuild-test-bin-*' ! -name '*.lock' -printf 'tmp %p\n' 2>/dev/null || true
}

case ${1:-} in
snapshot)
  mkdir -p "$(dirname "$2")"
  state | sort >"$2"
  ;;
check)
  now=$(mktemp)
  trap 'rm -f "$now"' EXIT
  state | sort >"$now"
  new=$(comm -13 "$2" "$now")
  if [ -z "$new" ]; then
    echo "leftovers: the tests left nothing behind"
    exit 0
  fi
  echo "leftovers: the tests left these behind:"
  echo "$new" | sed 's/^/  /'
  [ "${IMGBUILD_E2E:-}" = 1 ] && exit 1
  echo "leftovers: (a warning outside CI: they may be yours, not the tests')"
  ;;
*)
  echo "usage: $0 snapshot FILE | check FILE" >&2
  exit 2
  ;;
esac
