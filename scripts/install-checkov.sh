#!/usr/bin/env bash
# Installs checkov into its own virtualenv under the cache (its dependency pins clash with the project's)
# and prints the path of the checkov command. Idempotent and quiet when already installed.
set -euo pipefail

CACHE_DIR="${APIGW_CANARY_CACHE:-$HOME/.cache/apigw-canary}"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
PYTHON="${PYTHON:-python3.11}"
venv="$CACHE_DIR/checkov-venv"
stamp="$venv/.checkov-$CHECKOV_VERSION"

if [[ ! -f "$stamp" ]]; then
  echo "installing checkov $CHECKOV_VERSION into $venv" >&2
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
  touch "$stamp"
fi
echo "$venv/bin/checkov"
