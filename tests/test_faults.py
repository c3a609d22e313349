"""Faults injected on real small data: a model folder that was tampered with or damaged is refused with one
line before anything in it runs."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import skops.io
from sklearn.preprocessing import FunctionTransformer

import autosearch
from autosearch.bundle import Bundle
from autosearch.errors import AutosearchError
from autosearch.safe_files import sha256

pytestmark = pytest.mark.xdist_group("faults")  # one fit for the module, not one per test process


@pytest.fixture(scope="module")
def fitted(iris_csv, sandbox, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults") / "out"
    autosearch.fit(iris_csv, target="species", trials=1, max_epochs=1, cv_folds=2, quiet=True, output=out,
                   tracking_uri=f"sqlite:///{sandbox / 'mlflow.db'}", experiment="faults")
    return out / "model"


@pytest.fixture
def bundle(fitted, tmp_path) -> Path:
    """A copy of the fitted bundle to damage."""
    return Path(shutil.copytree(fitted, tmp_path / "model"))


def _predict(model: Path, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autosearch", "predict", str(model), str(data)],
                          capture_output=True, text=True, timeout=180)


def _rehash(model: Path) -> None:
    """What an attacker who edits the files would also do: make metadata.json's SHA-256s match them."""
    meta = json.loads((model / "metadata.json").read_text())
    meta["files"] = {name: sha256(model / name) for name in meta["files"]}
    (model / "metadata.json").write_text(json.dumps(meta))


class Planted:
    """Unpickling this runs a shell command: what a shared model folder could hold."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_the_bundle_holds_no_pickle_and_a_checksum_of_every_file(fitted):
    files = json.loads((fitted / "metadata.json").read_text())["files"]
    on_disk = {p.relative_to(fitted).as_posix() for p in fitted.rglob("*") if p.is_file()} - {"metadata.json"}
    assert set(files) == on_disk and all(len(digest) == 64 for digest in files.values())
    assert not [p for p in fitted.rglob("*") if p.suffix in (".joblib", ".pkl", ".pickle")]
    assert {"preprocessor.skops", "target.skops"} <= on_disk


def test_a_pickle_planted_in_an_old_bundle_never_runs(bundle, iris_csv, tmp_path):
    marker = tmp_path / "planted-command-ran"
    (bundle / "preprocessor.joblib").write_bytes(pickle.dumps(Planted(marker)))
    meta = json.loads((bundle / "metadata.json").read_text())
    meta.pop("files"), meta.pop("format")  # as bundles were written before this check
    (bundle / "metadata.json").write_text(json.dumps(meta))
    done = _predict(bundle, iris_csv)
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert "saved by an earlier autosearch, in pickle files" in done.stderr and "refit" in done.stderr
    assert not marker.exists()


def test_a_skops_file_naming_a_foreign_function_is_refused_even_with_matching_checksums(bundle, tmp_path):
    marker = tmp_path / "planted-command-ran"
    skops.io.dump(FunctionTransformer(os.system, kw_args={"command": f"touch {marker}"}), bundle / "target.skops")
    _rehash(bundle)
    with pytest.raises(AutosearchError, match=r"names types a model never holds \(.*system"):
        Bundle.load(bundle)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "missing", "metadata"])
def test_a_damaged_bundle_is_refused_with_one_line(bundle, iris_csv, damage):
    member = next((bundle / "members").iterdir())
    if damage == "flipped byte":
        data = bytearray(member.read_bytes())
        data[len(data) // 2] ^= 0xFF
        member.write_bytes(bytes(data))
    elif damage == "truncated":
        member.write_bytes(member.read_bytes()[:100])
    elif damage == "missing":
        (bundle / "preprocessor.skops").unlink()
    else:
        (bundle / "metadata.json").write_text('{"task": "multicl')
    expected = {"flipped byte": "its SHA-256 differs", "truncated": "its SHA-256 differs",
                "missing": "misses preprocessor.skops", "metadata": "metadata.json' is damaged (not JSON)"}[damage]
    done = _predict(bundle, iris_csv)
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert expected in done.stderr, done.stderr


def test_a_damaged_file_with_matching_checksums_is_refused_with_one_line(bundle):
    (bundle / "target.skops").write_bytes(b"PK\x03\x04 not a zip")
    _rehash(bundle)
    with pytest.raises(AutosearchError, match="target.skops' cannot be read .* the file is damaged"):
        Bundle.load(bundle)
