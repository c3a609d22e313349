"""Reading the YAML files users write (search spaces, sweeps), with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from autosearch.errors import AutosearchError


def read_yaml(path: Path, what: str) -> Any:
    """The parsed content of `path`; `what` names the file in errors ("space file", "sweep file")."""
    if not path.is_file():
        raise AutosearchError(f"{what} '{path}' does not exist; check the path")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        raise AutosearchError(f"{what} '{path}' is not valid YAML{line}; fix its syntax") from None
