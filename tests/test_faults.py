"""Faults injected on real small data: a model folder that was tampered with or damaged is refused with one
line before anything in it runs."""

from __future__ import annotations

import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import skops.io
from commands import autosearch_here
from sklearn.preprocessing import FunctionTransformer

import autosearch
from autosearch.errors import AutosearchError
from autosearch.serving.bundle import Bundle
from autosearch.serving.safe_files import sha256

pytestmark = pytest.mark.xdist_group("faults")  # one fit for the module, not one per test process


@pytest.fixture(scope="module")
def fitted(iris_csv, sandbox, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults") / "out"
    autosearch.fit(iris_csv, target="species", trials=1, max_epochs=1, cv_folds=2, baselines="linear", quiet=True,
                   output=out, tracking_uri=f"sqlite:///{sandbox / 'mlflow.db'}", experiment="faults")
    return out / "model"


@pytest.fixture
def bundle(fitted, tmp_path) -> Path:
    """A copy of the fitted bundle to damage."""
    return Path(shutil.copytree(fitted, tmp_path / "model"))


def _predict(model: Path, data: Path) -> subprocess.CompletedProcess:
    return autosearch_here("predict", model, data)


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


@pytest.mark.slow
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


@pytest.mark.parametrize("module, name", [("subprocess", "Popen"), ("numpy", "memmap"),
                                          ("autosearch.__main__", "main")])
def test_a_skops_file_naming_a_class_a_model_never_holds_is_refused_before_it_is_imported(bundle, module, name):
    """A class that builds something harmful from the file's arguments (a process, a file opened for writing), or
    a module whose import runs code, named in place of the target codec: refused from the list of types alone."""
    path = bundle / "target.skops"
    with zipfile.ZipFile(path) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    schema = json.loads(files["schema.json"])
    assert schema["__module__"] == "autosearch.targets" and schema["__class__"] == "TargetCodec"
    files["schema.json"] = json.dumps({**schema, "__module__": module, "__class__": name}).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for filename, data in files.items():
            archive.writestr(filename, data)
    _rehash(bundle)
    with pytest.raises(AutosearchError, match=f"names types a model never holds \\({module}.{name}"):
        Bundle.load(bundle)


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


def _run(data: Path, out: Path, trials: int, *flags: str, limit=None) -> subprocess.CompletedProcess:
    """`autosearch fit`: in a real process whose files may grow no larger than `limit` bytes (then writes fail
    as on a full disk: EFBIG), else in this one."""
    args = ["fit", data, "--target", "species", "--trials", trials, "--max-epochs", 1, "--cv-folds", 2,
            "--baselines", "linear", "--output", out, "-q", *flags]
    if limit is None:
        return autosearch_here(*args)

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "autosearch", *map(str, args)], capture_output=True, text=True,
                          timeout=300, preexec_fn=small_disk)


def _resume(out: Path, trials: int, *flags: str) -> subprocess.CompletedProcess:
    return autosearch_here("resume", out, "--trials", trials, *flags)


def _children(run_id: str) -> int:
    from mlflow import MlflowClient

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_run(run_id).info.experiment_id
    return len(client.search_runs([experiment], filter_string=f"tags.`mlflow.parentRunId` = '{run_id}'"))


@pytest.mark.slow
def test_a_copied_run_folder_is_refused_and_a_moved_one_resumes(iris_csv, tmp_path):
    first = tmp_path / "first"
    assert _run(iris_csv, first, 1).returncode == 0
    state = json.loads((first / "run.json").read_text())
    assert state["folder"] == str(first.resolve()) and state["trials_done"] == 1
    children = _children(state["parent_run_id"])

    copy = Path(shutil.copytree(first, tmp_path / "copy"))
    done = _resume(copy, 2, "-q")
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert f"is a copy of the run in '{first.resolve()}'" in done.stderr
    assert _children(state["parent_run_id"]) == children  # nothing was added to the original's MLflow run
    assert json.loads((first / "run.json").read_text()) == state

    shutil.rmtree(copy)
    moved = first.rename(tmp_path / "moved")
    done = _resume(moved, 2)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"the run moved here from {first.resolve()}" in done.stderr
    after = json.loads((moved / "run.json").read_text())
    assert after["folder"] == str(moved.resolve()) and after["trials_done"] == 2
    assert after["parent_run_id"] == state["parent_run_id"]


@pytest.mark.slow
def test_a_run_whose_database_lost_trials_is_refused(iris_csv, tmp_path):
    out = tmp_path / "run"
    assert _run(iris_csv, out, 1).returncode == 0
    older = (out / "study.db").read_bytes()  # the database after one trial (its log folded in at the end)
    assert _resume(out, 2, "-q").returncode == 0
    parent = json.loads((out / "run.json").read_text())["parent_run_id"]
    children = _children(parent)
    (out / "study.db").write_bytes(older)  # as if the log holding the second trial had been lost
    for log in ("study.db-wal", "study.db-shm"):
        (out / log).unlink(missing_ok=True)
    done = _resume(out, 3, "-q")
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert "holds 1 of the 2 trials its last sitting left" in done.stderr
    assert _children(parent) == children  # no trial ran again under the same MLflow run


@pytest.mark.slow
def test_a_full_disk_stops_the_run_with_one_line_and_exit_3_and_resume_finishes_it(iris_csv, tmp_path):
    store = tmp_path / "mlflow.db"
    uri = ("--tracking-uri", f"sqlite:///{store}")
    assert _run(iris_csv, tmp_path / "warm", 1, *uri).returncode == 0  # the store's tables exist
    limit = store.stat().st_size + 20_000  # room for the first few runs' rows: the disk fills mid-search
    out = tmp_path / "out"
    done = _run(iris_csv, out, 4, *uri, limit=limit)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("error: a database refused a write") and f"autosearch resume {out}" in done.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"

    resumed = _resume(out, 4, "-q")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    state = json.loads((out / "run.json").read_text())
    assert state["status"] == "finished" and state["trials_done"] == 4


@pytest.mark.slow
def test_a_store_that_refuses_its_first_write_stops_the_run_before_it_starts_with_one_line(iris_csv, tmp_path):
    """The disk full before anything was written (a new MLflow store's tables): one line, exit 3, nothing half
    made; the same command runs once there is room."""
    uri = ("--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}")
    out = tmp_path / "out"
    done = _run(iris_csv, out, 1, *uri, limit=4096)  # no room for the store's tables
    assert done.returncode == 3, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert "the run could not start" in done.stderr and "run the same command again" in done.stderr
    assert not (out / "run.json").exists()
    again = _run(iris_csv, out, 1, *uri)
    assert again.returncode == 0, again.stderr[-2000:]
