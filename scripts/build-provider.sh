#!/usr/bin/env bash
# Builds the hashicorp/aws Terraform provider from the Go module proxy and installs
# it into a filesystem mirror under the cache directory. Idempotent: a build that
# matches the pin is reused, so fresh clones on the same machine pay nothing.
set -euo pipefail

CACHE_DIR="${APIGW_CANARY_CACHE:-$HOME/.cache/apigw-canary}"
# The provider's module path has no /v6 suffix, so releases are only reachable as
# pseudo-versions of main-branch commits; this one reads 6.47.1 in version/VERSION.
PROVIDER_MODULE="github.com/hashicorp/terraform-provider-aws"
PROVIDER_PIN="${AWS_PROVIDER_PIN:-v1.60.1-0.20260602190131-5f2286d6d836}"
PROVIDER_VERSION="${AWS_PROVIDER_VERSION:-6.47.1}"

mirror="$CACHE_DIR/mirror/registry.terraform.io/hashicorp/aws/$PROVIDER_VERSION/linux_amd64"
binary="$mirror/terraform-provider-aws_v$PROVIDER_VERSION"
stamp="$mirror/.pin"

if [[ -x "$binary" && -f "$stamp" && "$(cat "$stamp")" == "$PROVIDER_PIN" ]]; then
  exit 0
fi

export GOMODCACHE="$CACHE_DIR/gomod"
export GOCACHE="$CACHE_DIR/gobuild"
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

echo "building hashicorp/aws $PROVIDER_VERSION from $PROVIDER_MODULE@$PROVIDER_PIN (cold: 20-40 min on 2 cores)" >&2
src="$(cd /tmp && go mod download -json "$PROVIDER_MODULE@$PROVIDER_PIN" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error","download failed")))')"
[[ "$(tr -d '[:space:]' < "$src/version/VERSION")" == "$PROVIDER_VERSION" ]] || {
  echo "pin $PROVIDER_PIN reads version $(cat "$src/version/VERSION"), expected $PROVIDER_VERSION" >&2; exit 1; }

mkdir -p "$mirror"
tmp="$binary.tmp.$$"
# Inside the downloaded module so its go.mod (and its replace directive) applies.
(cd "$src" && go build -trimpath -p "${GO_BUILD_JOBS:-2}" \
  -ldflags "-s -w -X $PROVIDER_MODULE/version.ProviderVersion=$PROVIDER_VERSION" -o "$tmp" .)
mv "$tmp" "$binary"
echo "$PROVIDER_PIN" > "$stamp"
echo "installed $binary" >&2
