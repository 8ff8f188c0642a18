"""Files the user writes for the controller (a gates file, a wave plan): reading them as YAML or JSON, and
schema errors as one line each, naming where in the document (`waves[0].stacks[1].region`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from controller.errors import UsageError


class FileProblems(UsageError):
    """A file of the user's that cannot be used; `problems` holds one line per mistake."""

    validate = "gates validate"  # the command that lists them all

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        first = problems[0] if problems else "invalid"
        more = f" (and {len(problems) - 1} more; `python -m controller {self.validate} {path}` lists them)"
        super().__init__(f"{path}: {first}" + (more if len(problems) > 1 else ""))


def read_document(
    path: str, error: Callable[[str, Sequence[str]], UsageError] = FileProblems, what: str = "the file"
) -> Any:
    """The YAML (or JSON, for a .json file) document at `path`; `error(path, problems)` when unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(path, [f"cannot read it: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise error(path, [f"not text: write {what} as YAML or JSON"]) from None
    if path.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise error(path, [f"not JSON: {exc.msg} at line {exc.lineno}"]) from None
    import yaml  # YAML is a superset of JSON, so anything else is read as YAML

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "unreadable"
        raise error(path, [f"not YAML: {problem}{where}"]) from None


def json_path(path: Sequence[Any]) -> str:
    """A JSON path as a reader writes it: waves[0].stacks[1].region."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def schema_errors(schema: Mapping[str, Any], document: Any) -> list[tuple[str, Any]]:
    """(where, jsonschema error) for every way `document` breaks `schema`, in document order."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [(json_path(list(e.absolute_path)), e) for e in errors]


def plain_problem(where: str, error: Any, published: str) -> str:
    """The line for a schema error that needs no file-specific wording."""
    if error.validator == "pattern":
        return f"{where}: {error.instance!r} must be letters, digits, '_', '.' or '-'"
    if error.validator == "additionalProperties":
        return f"{where}: {error.message} (see docs/{published})"
    return f"{where}: {error.message}"
