#!/usr/bin/env bash
# Lint the GitHub Action and every workflow with actionlint (installed by
# hack/test-support.sh): .github/workflows/*, and the examples under
# examples/github-actions with `uses: manyarch/manyarch@v1` pointed at this
# checkout's action.yml, so their inputs are checked against it too.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v actionlint >/dev/null || { echo "actionlint: not installed (hack/test-support.sh installs it)" >&2; exit 1; }
actionlint .github/workflows/*.yml
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/.github/workflows"
cp action.yml "$d/"
for f in examples/github-actions/*.yml; do
  grep -q 'uses: manyarch/manyarch@v1' "$f" || { echo "$f: does not use manyarch/manyarch@v1" >&2; exit 1; }
  sed 's|uses: manyarch/manyarch@v1|uses: ./|' "$f" >"$d/.github/workflows/$(basename "$f")"
done
(cd "$d" && git init -q && actionlint)
echo "actionlint: action.yml, $(ls .github/workflows/*.yml examples/github-actions/*.yml | wc -l) workflows ok"
