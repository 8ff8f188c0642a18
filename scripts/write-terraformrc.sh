#!/usr/bin/env bash
# Terraform CLI config: providers come only from the filesystem mirror that
# build-provider.sh fills; nothing is installed from the network.
set -euo pipefail
cache_dir="$1"
cat <<RC
provider_installation {
  filesystem_mirror {
    path    = "$cache_dir/mirror"
    include = ["registry.terraform.io/hashicorp/*"]
  }
}
RC
