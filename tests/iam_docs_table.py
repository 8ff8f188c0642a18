"""docs/iam.md's table of what each command calls, read for the tests that hold it to the policy and to a run.

One row per IAM action on one resource pattern; the columns after `statement` are commands (a column may
name several: "approve, abort, pause, resume"), each cell a ✓ (made), a footnote mark alone (allowed, made
only in a case the measured run did not have) or empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "iam.md"
HEADER = "| IAM action | resource ARN pattern | statement |"


@dataclass(frozen=True)
class Row:
    action: str
    resource: str
    statement: str
    made_by: frozenset[str]  # the commands with a ✓

    def made_by_any(self, commands: set[str]) -> bool:
        return bool(self.made_by & commands)


def rows() -> list[Row]:
    found: list[Row] = []
    columns: list[list[str]] = []
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith(HEADER):
            columns = [re.split(r",\s*", cell) for cell in cells[3:]]
        elif columns and line.startswith("|") and not line.startswith("|---"):
            made = {
                name for names, cell in zip(columns, cells[3:], strict=True) if "✓" in cell for name in names
            }
            found.append(Row(cells[0].strip("`"), cells[1].strip("`"), cells[2], frozenset(made)))
        elif columns and not line.startswith("|"):
            break
    return found
