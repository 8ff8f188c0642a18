"""Build a reproducible Lambda deployment package (zip) from a source directory.

Called by the module's terraform_data provisioner. Reproducible means the same sources always give the
same bytes: entries are sorted, timestamps and permissions are fixed, caches are skipped. So the zip a
CI runner builds equals the one a laptop builds, and nothing changes on apply unless a source changed.

Inputs come from the environment (no shell quoting involved):
  PACKAGE_SOURCE_DIR  directory whose files go to the zip root
  PACKAGE_OUTPUT      zip path to write (parent directories are created)
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from pathlib import Path

# Kept in step with the module's source hash (main.tf, local.source_files): both skip the same files.
SKIPPED_DIRS = {"__pycache__"}
SKIPPED_SUFFIXES = (".pyc",)
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # earliest date a zip entry can hold


def source_files(root: Path) -> list[Path]:
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_dir() or any(part in SKIPPED_DIRS for part in rel.parts):
            continue
        if path.name.endswith(SKIPPED_SUFFIXES):
            continue
        files.append(rel)
    return sorted(files, key=lambda p: p.as_posix())


def build(root: Path, output: Path) -> int:
    files = source_files(root)
    if not files:
        raise SystemExit(f"package.py: {root} has no files to package; check source_dir")
    output.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a concurrent reader never sees half a zip.
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=".pkg-", suffix=".zip")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for rel in files:
                info = zipfile.ZipInfo(rel.as_posix(), date_time=FIXED_TIME)
                mode = 0o755 if os.access(root / rel, os.X_OK) else 0o644
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # unix, so the permission bits above are honoured
                zf.writestr(info, (root / rel).read_bytes())
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(files)


def main() -> None:
    try:
        root = Path(os.environ["PACKAGE_SOURCE_DIR"])
        output = Path(os.environ["PACKAGE_OUTPUT"])
    except KeyError as missing:
        raise SystemExit(f"package.py: environment variable {missing} is required") from None
    if not root.is_dir():
        raise SystemExit(f"package.py: source directory {root} does not exist")
    count = build(root, output)
    print(f"packaged {count} file(s) from {root} into {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
