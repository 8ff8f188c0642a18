"""controller_config parsing: both accepted shapes, and one clear message per malformed input."""

from __future__ import annotations

import copy
import io
import json
import stat
from pathlib import Path

import pytest
from controller_fakes import CONFIG

from controller.config import load_config, parse_config, terraform_outputs
from controller.errors import ConfigError


def as_text(value: object) -> str:
    return json.dumps(value)


def test_the_whole_terraform_output_document_is_accepted() -> None:
    doc = {
        "controller_config": {"sensitive": False, "type": ["object", {}], "value": CONFIG},
        "other": {"value": 1},
    }
    cfg = parse_config(as_text(doc), "test")
    assert cfg.api_id == "abc123"
    assert cfg.slot_names == ("blue", "green")
    assert cfg.production_url == "http://127.0.0.1:1/p"
    assert cfg.watched_alarms == (
        "apigw-canary-canary-5xx",
        "apigw-canary-canary-p99",
        "apigw-canary-rollback",
    )


def test_the_bare_controller_config_object_is_accepted() -> None:
    assert parse_config(as_text(CONFIG), "test").metrics.period_seconds == 60


def test_stdin_is_read_for_outputs_dash() -> None:
    assert load_config(None, "-", io.StringIO(as_text(CONFIG))).api_name == "apigw-canary"


def broken(path: str, value: object = None, delete: bool = False) -> dict:
    cfg = copy.deepcopy(CONFIG)
    *parents, last = path.split(".")
    target = cfg
    for key in parents:
        target = target[key]
    if delete:
        del target[last]
    else:
        target[last] = value
    return cfg


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "not a JSON object"),
        (as_text({"other_output": {"value": 1}}), "no controller_config output"),
        (as_text({}), "no controller_config output"),
        (as_text(broken("schema_version", 2)), "schema_version is 2"),
        (as_text(broken("api_id", delete=True)), "api_id is missing"),
        (as_text(broken("api_id", "abc-123!")), "api_id has an invalid value"),
        (as_text(broken("region", "mars")), "region has an invalid value"),
        (as_text(broken("staging_stage", "production")), "must differ"),
        (as_text(broken("production_stage", "")), "production_stage must be a non-empty string"),
        (as_text(broken("slots.green", delete=True)), "exactly two slots"),
        (as_text(broken("slots.green.function_name", delete=True)), "slots.green.function_name is missing"),
        (as_text(broken("alarm_names", delete=True)), "alarm_names is missing"),
        (as_text(broken("alarm_names", "one-alarm")), "alarm_names must be a list"),
        (as_text(broken("metrics.period_seconds", 0)), "period_seconds must be a positive"),
        (as_text(broken("metrics.period_seconds", "60")), "period_seconds must be a positive"),
        (as_text(broken("invoke_urls.production", "ftp://x")), "must be an http"),
        (as_text(broken("invoke_urls", delete=True)), "invoke_urls is missing"),
        (as_text(broken("slot_variable", "slot var")), "slot_variable has an invalid value"),
        (as_text({"controller_config": {"value": "oops"}}), "must be an object"),
    ],
)
def test_malformed_outputs_give_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(text, "outputs.json")
    assert "\n" not in str(info.value)


def test_a_missing_outputs_file_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot read --outputs"):
        load_config(None, "/nonexistent/outputs.json", io.StringIO())


def test_a_missing_tf_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such directory"):
        terraform_outputs(str(tmp_path / "nope"))


def fake_terraform(tmp_path: Path, script: str) -> str:
    binary = tmp_path / "terraform"
    binary.write_text("#!/bin/sh\n" + script)
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    return str(binary)


def test_terraform_output_json_is_run_in_the_tf_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "outputs.json").write_text(as_text({"controller_config": {"value": CONFIG}}))
    # The fake prints the file only when called as `terraform -chdir=DIR output -json ...`.
    script = (
        'case "$1 $2 $3" in "-chdir='
        f"{tmp_path}"
        ' output -json") cat "${1#-chdir=}/outputs.json";; *) exit 9;; esac\n'
    )
    monkeypatch.setenv("TERRAFORM", fake_terraform(tmp_path, script))
    assert load_config(str(tmp_path), None, io.StringIO()).api_id == "abc123"


def test_a_failing_terraform_reports_its_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = 'echo "│ Error: No outputs found" >&2; exit 1\n'
    monkeypatch.setenv("TERRAFORM", fake_terraform(tmp_path, script))
    with pytest.raises(ConfigError, match="Error: No outputs found"):
        load_config(str(tmp_path), None, io.StringIO())


def test_no_terraform_anywhere_says_how_to_pass_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TERRAFORM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sys.prefix", str(tmp_path))
    with pytest.raises(ConfigError, match="--outputs FILE"):
        load_config(str(tmp_path), None, io.StringIO())
