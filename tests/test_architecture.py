"""The import graph's rules (pyproject.toml, [tool.importlinter]): no cycle between the package's modules, and
the data and the models import nothing above them. import-linter reads every import, those inside functions
included, so a cycle closed by a late import is caught too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_graph_keeps_its_contracts():
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_the_package_lists_its_public_names_though_it_loads_them_late():
    import autosearch

    assert {"fit", "predict", "resume", "load", "AutoSearchClassifier", "AutoSearchRegressor"} <= set(dir(autosearch))
