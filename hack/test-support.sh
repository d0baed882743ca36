#!/usr/bin/env bash
# Install what the imagetest report tests check their output with:
#   - Debian's chromium, which renders the HTML report headless;
#   - junit2json from npm, an independent JUnit XML consumer, installed in
#     $MANYARCH_TEST_CACHE/node (default /var/cache/manyarch-test/node).
# Tests that need them skip with a reason when they are missing; CI runs
# this first so nothing skips there.
set -euo pipefail
CACHE=${MANYARCH_TEST_CACHE:-/var/cache/manyarch-test}
log() { printf 'test-support: %s\n' "$*" >&2; }

if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    log "installing chromium"
    apt-get update -qq || log "apt-get update reported errors (a mirror mid-sync?); trying the install anyway"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    log "chromium is missing: run as root, or apt-get install chromium"
  fi
fi

if command -v npm >/dev/null; then
  mkdir -p "$CACHE/node"
  if [ ! -f "$CACHE/node/node_modules/junit2json/package.json" ]; then
    log "installing junit2json into $CACHE/node"
    (cd "$CACHE/node" && { [ -f package.json ] || echo '{"private": true}' > package.json; } \
      && npm install --no-audit --no-fund --silent junit2json@4.0.0)
  fi
else
  log "npm is missing: apt-get install npm, then run this again"
fi

# actionlint, pinned, for hack/actionlint.sh (the GitHub Action and workflows).
if ! command -v actionlint >/dev/null; then
  log "installing actionlint v1.7.12 into /usr/local/bin"
  GOBIN=/usr/local/bin go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12 \
    || log "actionlint could not be installed; hack/actionlint.sh will fail"
fi

# runc: buildkitd's OCI worker runs its RUN steps with it.
if ! command -v runc >/dev/null && [ "$(id -u)" = 0 ]; then
  log "installing runc (for buildkitd's worker)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends runc >/dev/null \
    || log "runc could not be installed; the BuildKit engine's tests will skip"
fi
# BuildKit (the distributed engine's tests run two buildkitd) and cosign (the
# signing interop tests), each pinned and skipped when present at that version.
# Each takes about ten minutes to build on a fresh 2-core machine, once.
bash "$(dirname "$0")/install-buildkit.sh" || log "buildkitd could not be installed; the BuildKit engine's tests will skip"
bash "$(dirname "$0")/install-cosign.sh" || log "cosign could not be installed; the cosign interop tests will skip"
