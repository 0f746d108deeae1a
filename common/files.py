"""Files that survive an interruption: every write goes through a synced temporary file and a rename, so a
crash leaves the old file or the new one, never half of either; a file that cannot be read counts as not
written."""

import json
import os
import tempfile
from typing import Any


def write_text(path: str, text: str) -> None:
    """Writes `text` to `path` atomically (creating its folder)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + "-", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes the file private; these are ordinary files
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_json(path: str, value: Any, indent: int | None = 2) -> None:
    """Writes `value` as strict JSON (no NaN or Infinity tokens) to `path` atomically."""
    write_text(path, json.dumps(value, indent=indent, allow_nan=False) + "\n")


def read_json(path: str, default: Any = None) -> Any:
    """The JSON value in `path`; `default` if it does not exist or cannot be read (a write cut short by an
    older version, a disk fault): such a file counts as not written."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return default
