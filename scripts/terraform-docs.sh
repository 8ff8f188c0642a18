#!/usr/bin/env bash
# Writes the terraform-docs tables (inputs, outputs, resources...) into docs/module.md (root module) and the
# README.md of every submodule and example, between the BEGIN_TF_DOCS/END_TF_DOCS markers.
#   scripts/terraform-docs.sh           regenerate
#   scripts/terraform-docs.sh --check   exit 1 if any table is stale (used by the tests)
set -euo pipefail
cd "$(dirname "$0")/.."

bin="$(bash scripts/build-go-tool.sh terraform-docs)"
check=()
if [[ "${1:-}" == "--check" ]]; then check=(--output-check); fi

render() {  # DIR FILE (FILE relative to DIR)
  "$bin" markdown table --lockfile=false --hide-empty --indent 3 --sort-by required \
    --output-mode inject --output-file "$2" "${check[@]}" "$1"
}

status=0
render . docs/module.md || status=1
for dir in modules/*/ examples/*/; do
  compgen -G "${dir}*.tf" > /dev/null || continue  # not a Terraform configuration
  render "${dir%/}" README.md || status=1
done
exit "$status"
