import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("APIGW_CANARY_CACHE", Path.home() / ".cache" / "apigw-canary"))


@pytest.fixture(scope="session")
def terraform_env() -> dict[str, str]:
    """Environment in which `terraform` installs providers only from the project's filesystem mirror."""
    binary = REPO / ".venv" / "bin" / "terraform"
    # Always the project's own CLI config: a machine may export TF_CLI_CONFIG_FILE for something else.
    rc = CACHE_DIR / "terraform.rc"
    if not binary.exists() or not rc.exists():
        pytest.fail("toolchain missing: run `make setup` (it builds .venv/bin/terraform and the CLI config)")
    env = dict(os.environ)
    env["TF_CLI_CONFIG_FILE"] = str(rc)
    env["TF_IN_AUTOMATION"] = "1"
    env["PATH"] = f"{binary.parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("TF_PLUGIN_CACHE_DIR", None)
    return env


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    path = REPO / ".venv" / "bin" / "terraform"
    assert shutil.which(str(path)), "run `make setup` first"
    return str(path)
