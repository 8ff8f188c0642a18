#!/usr/bin/env bash
# Builds a Go command-line tool from the Go module proxy into the cache's bin directory and prints its path.
# Idempotent: a binary already built from the same module version is reused.
#
#   scripts/build-go-tool.sh terraform-docs            # the pinned tools below
#   scripts/build-go-tool.sh MODULE VERSION [NAME]     # anything else
#
# It builds inside the downloaded module (not with `go install MODULE@VERSION`), so the module's own go.mod,
# including any replace directives, applies.
set -euo pipefail

CACHE_DIR="${APIGW_CANARY_CACHE:-$HOME/.cache/apigw-canary}"

case "${1:-}" in
  terraform-docs) set -- github.com/terraform-docs/terraform-docs "${TERRAFORM_DOCS_VERSION:-v0.21.0}" terraform-docs ;;
  "") echo "usage: $0 terraform-docs | MODULE VERSION [NAME]" >&2; exit 2 ;;
esac

module="$1"
version="${2:?usage: $0 MODULE VERSION [NAME]}"
name="${3:-$(basename "$module")}"
bindir="$CACHE_DIR/bin"
binary="$bindir/$name"
stamp="$bindir/.$name.version"

if [[ -x "$binary" && -f "$stamp" && "$(cat "$stamp")" == "$module@$version" ]]; then
  echo "$binary"
  exit 0
fi

export GOMODCACHE="$CACHE_DIR/gomod"
export GOCACHE="$CACHE_DIR/gobuild"
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

echo "building $name from $module@$version" >&2
src="$(cd /tmp && go mod download -json "$module@$version" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error","download failed")))')"

mkdir -p "$bindir"
tmp="$binary.tmp.$$"
(cd "$src" && go build -trimpath -p "${GO_BUILD_JOBS:-2}" -ldflags "-s -w" -o "$tmp" .)
mv "$tmp" "$binary"
echo "$module@$version" > "$stamp"
echo "$binary"
