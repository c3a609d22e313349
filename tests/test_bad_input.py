"""Bad input: a one-line error naming the problem and the fix, exit code 2, no traceback, nothing lost."""

from __future__ import annotations

import io
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from autosearch.cli import app


def run_cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_clean_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == [lines[-1]], result.output  # one error line, the last thing printed
    text = lines[-1]
    for fragment in fragments:
        assert fragment in text, text


@pytest.fixture
def five_class_csv(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60), "grade": np.arange(60) % 5})
    path = tmp_path / "grades.csv"
    frame.to_csv(path, index=False)
    return path


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_missing_file(tmp_path):
    assert_clean_error(run_cli("fit", tmp_path / "nope.csv"), "does not exist")


def test_empty_file(tmp_path):
    assert_clean_error(run_cli("fit", write(tmp_path, "empty.csv", "")), "is empty")


def test_unreadable_file(tmp_path):
    path = write(tmp_path, "broken.csv", b'a,b\n"1,2\n3,4,5,6\n\xff\xfe\x00')
    assert_clean_error(run_cli("fit", path), "could not read", "valid .csv")


def test_header_only(tmp_path):
    assert_clean_error(run_cli("fit", write(tmp_path, "header.csv", "a,b,target\n")), "no data rows")


def test_unknown_file_type(tmp_path):
    assert_clean_error(run_cli("fit", write(tmp_path, "data.xlsx", "x")), "unknown file type", ".parquet")


def test_unknown_target(five_class_csv):
    assert_clean_error(run_cli("fit", five_class_csv, "--target", "grde"), "--target 'grde' is not a column",
                       "grade")


def test_single_valued_target(tmp_path):
    path = write(tmp_path, "one.csv", "a,y\n" + "".join(f"{i * 0.37},1\n" for i in range(30)))
    assert_clean_error(run_cli("fit", path, "--target", "y"), "single value")


def test_all_missing_target(tmp_path):
    path = write(tmp_path, "missing.csv", "a,y\n" + "".join(f"{i * 0.37},\n" for i in range(30)))
    assert_clean_error(run_cli("fit", path, "--target", "y"), "all values missing")


def test_binary_task_on_five_classes(five_class_csv):
    assert_clean_error(run_cli("fit", five_class_csv, "--task", "binary"), "has 5", "--task multiclass")


def test_bad_time_budget(five_class_csv):
    assert_clean_error(run_cli("fit", five_class_csv, "--time-budget", "ten minutes"), "90s, 20m")


def test_zero_trials(five_class_csv):
    assert_clean_error(run_cli("fit", five_class_csv, "--trials", "0"), "--trials must be at least 1")


@pytest.mark.parametrize("args, fragment", [
    (["--engine", "hyperopt"], "--engine 'hyperopt' is unknown; use one of optuna, keras-tuner"),
    (["--tuner", "random"], "add --engine keras-tuner"),
    (["--engine", "keras-tuner", "--tuner", "grid"], "--tuner 'grid' is unknown"),
])
def test_bad_engine_options(five_class_csv, args, fragment):
    assert_clean_error(run_cli("fit", five_class_csv, *args), fragment)


def test_space_file_that_is_not_yaml(five_class_csv, tmp_path):
    space = write(tmp_path, "space.yaml", "params: {layers: [1, 2")
    assert_clean_error(run_cli("fit", five_class_csv, "--space", space), "not valid YAML")


def test_space_file_with_unknown_type(five_class_csv, tmp_path):
    space = write(tmp_path, "space.yaml", "params:\n  layers: {type: range, low: 1, high: 3}\n")
    assert_clean_error(run_cli("fit", five_class_csv, "--space", space), "unknown type 'range'")


def test_metric_that_does_not_fit_the_task(five_class_csv):
    assert_clean_error(run_cli("fit", five_class_csv, "--metric", "rmse"), "does not apply to a multiclass")


def test_existing_output_folder_is_left_untouched(five_class_csv, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "leaderboard.csv").write_text("precious")
    assert_clean_error(run_cli("fit", five_class_csv, "--output", out), "already holds files")
    assert (out / "leaderboard.csv").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.csv"]


def test_predict_with_a_folder_that_is_not_a_bundle(tmp_path, five_class_csv):
    assert_clean_error(run_cli("predict", tmp_path, five_class_csv), "not a model bundle")


@pytest.mark.slow
def test_real_process_exits_2_with_one_line_on_stderr(tmp_path):
    done = subprocess.run([sys.executable, "-m", "autosearch", "fit", str(tmp_path / "nope.csv")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0 and "does not exist" in done.stderr


def test_unreachable_tracking_server_fails_fast_and_writes_nothing(five_class_csv, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out"
    result = run_cli("fit", five_class_csv, "--tracking-uri", f"http://127.0.0.1:{port}", "--output", out)
    assert_clean_error(result, "cannot reach the MLflow tracking server", "--tracking-uri")
    assert not out.exists()


def test_a_password_in_a_tracking_uri_is_never_printed(five_class_csv, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_cli("fit", five_class_csv, "--tracking-uri", f"http://ann:s3cret@127.0.0.1:{port}",
                     "--output", tmp_path / "out")
    assert_clean_error(result, "cannot reach the MLflow tracking server at http://ann:***@127.0.0.1")
    assert "s3cret" not in result.output


def test_unknown_kind(five_class_csv):
    assert_clean_error(run_cli("fit", five_class_csv, "--kind", "video"), "--kind 'video' is unknown")


def test_image_kind_on_a_table(five_class_csv):
    assert_clean_error(run_cli("fit", five_class_csv, "--kind", "image"), "needs an .npz file", "not a table")


@pytest.mark.parametrize("names, fragment", [("xgboost", "'xgboost' is not a classical candidate on tabular"),
                                             ("linear,gradient_boosting_deep,forest", "'forest'")])
def test_a_baseline_the_kind_does_not_offer(five_class_csv, names, fragment):
    assert_clean_error(run_cli("fit", five_class_csv, "--baselines", names), fragment, "use some of dummy, linear")


def test_a_baseline_named_by_a_number_in_python_or_a_sweep_file_gets_the_same_one_line_error(five_class_csv):
    import autosearch
    from autosearch.errors import AutosearchError

    with pytest.raises(AutosearchError, match="--baselines '3' is not a classical candidate on tabular data"):
        autosearch.fit(five_class_csv, target="grade", baselines=["linear", 3], quiet=True)


def test_space_family_that_cannot_read_the_data(five_class_csv):
    from autosearch.spaces import default_space_path
    assert_clean_error(run_cli("fit", five_class_csv, "--space", default_space_path("conv2d")),
                       "searches conv2d networks, which cannot read tabular data", "use a dense or tabm space")


def test_image_folder_without_class_subfolders(tmp_path):
    from PIL import Image
    for i in range(3):
        Image.new("L", (8, 8)).save(tmp_path / f"{i}.png")
    assert_clean_error(run_cli("fit", tmp_path), "no class subfolders", "subfolder named after the class")


def test_unreadable_image(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "0.png").write_bytes(b"not an image")
    assert_clean_error(run_cli("fit", tmp_path), "cannot read image", "remove or replace it")


@pytest.mark.parametrize("text, message", [
    ("runs: [", "not valid YAML"),
    ("output: out\n", "needs a 'runs:' list"),
    ("runs:\n  - target: y\n", "run 1 needs 'data:'"),
    ("runs:\n  - data: x.csv\n    trails: 5\n", "unknown key 'trails'"),
    ("runs:\n  - data: x.csv\n    engines: [spark]\n", "engine 'spark' is unknown"),
    ("shedule: nightly\nruns:\n  - data: x.csv\n", "unknown key 'shedule'"),
])
def test_bad_sweep_files(tmp_path, text, message):
    path = write(tmp_path, "sweep.yaml", text)
    assert_clean_error(run_cli("sweep", path), message)


def test_missing_sweep_file(tmp_path):
    assert_clean_error(run_cli("sweep", tmp_path / "none.yaml"), "sweep file", "does not exist")


@pytest.mark.parametrize("command", ["fit", "resume", "sweep", "report", "leaderboard", "ui", "predict"])
def test_help_names_values_plainly_and_shows_choices_in_full_at_80_columns(command):
    shown = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert shown.exit_code == 0, shown.output
    options = shown.output.split("Options:")[1]
    assert not any(t in options for t in ("<int>", "<str>", "<bool>", "<path>", "list[")), options
    assert max(len(line) for line in shown.output.splitlines()) <= 80
    if command == "fit":
        assert "--target COLUMN" in options and "--holdout " in options  # a flag takes no value
        assert "binary, multiclass," in options and "multilabel, regression or forecast" in options


def test_version_and_shell_completion():
    from autosearch import __version__

    shown = CliRunner().invoke(app, ["--version"])
    assert shown.exit_code == 0 and shown.output.strip() == f"autosearch {__version__}"
    assert "--install-completion" in CliRunner().invoke(app, ["--help"]).output


@pytest.mark.slow
def test_infinite_values_are_missing_values_at_fit_and_predict(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    frame["label"] = np.where(frame.a > 0, "up", "down")
    frame.loc[[3, 40], "b"] = [np.inf, -np.inf]
    frame.to_csv(tmp_path / "inf.csv", index=False)
    out = tmp_path / "out"
    fitted = run_cli("fit", tmp_path / "inf.csv", "--trials", "1", "--max-epochs", "1", "--holdout", "--output", out)
    assert fitted.exit_code == 0, fitted.output
    assert "column 'b' holds 2 infinite values: they are treated as missing" in fitted.output
    predicted = run_cli("predict", out / "model", tmp_path / "inf.csv")
    assert predicted.exit_code == 0 and "Traceback" not in predicted.output
    assert len(pd.read_csv(io.StringIO(predicted.output.split("wrote")[0]))) == 120


def test_a_column_named_twice_is_said_not_renamed_silently(tmp_path):
    from autosearch.data.load import load_data
    from autosearch.data.profile import profile

    path = tmp_path / "twice.csv"
    path.write_text("size,size,label\n" + "".join(f"{i},{i % 3},{'ab'[i % 2]}\n" for i in range(30)))
    raw = load_data(path)
    assert list(raw.frame.columns) == ["size", "size.1", "label"]  # pandas' renaming, kept
    notes = profile(raw, ("label",))[3]
    assert "column 'size' appears 2 times in the header: read as 'size', 'size.1'; rename them" in notes[0]


def test_nested_parquet_columns_are_dropped_as_features_and_refused_as_targets(tmp_path):
    from autosearch.data.load import load_data
    from autosearch.data.profile import profile

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "label": np.where(np.arange(40) % 2, "x", "y")})
    frame["tags"] = [[int(v), 1] for v in np.arange(40) % 3]  # a Parquet list column
    frame["meta"] = [{"source": "s", "n": int(i)} for i in range(40)]  # a struct column
    frame.to_parquet(tmp_path / "nested.parquet")
    prof, _, _, notes = profile(load_data(tmp_path / "nested.parquet"), ("label",))
    assert prof.numeric == ("a",) and not prof.categorical and not prof.text
    assert "dropped feature 'tags': holds lists or records (a nested Parquet column): flatten it" in notes[0]
    assert "dropped feature 'meta'" in notes[1]
    frame[["tags", "meta", "a", "label"]].rename(columns={"label": "outcome"}).to_parquet(tmp_path / "guess.parquet")
    guessed = profile(load_data(tmp_path / "guess.parquet"))[0]  # no --target: the last column, others looked over
    assert guessed.targets == ("outcome",) and guessed.target_guessed
    assert_clean_error(run_cli("fit", tmp_path / "nested.parquet", "--target", "tags"),
                       "target 'tags' holds lists or records", "--target")


def test_a_corrupt_image_among_good_ones_is_named(tmp_path):
    from PIL import Image
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("L", (8, 8), color=i * 40).save(tmp_path / label / f"{i}.png")
    good = (tmp_path / "dog" / "0.png").read_bytes()
    (tmp_path / "dog" / "2.png").write_bytes(good[:40])  # truncated after the first image, which sets the size
    assert_clean_error(run_cli("fit", tmp_path), "1 image(s)", "2.png", "cannot be read", "remove or replace them")


@pytest.mark.parametrize("storage, fragments", [
    ("postgresql://ann:s3cret@127.0.0.1:1/db", ("needs a database driver that is not installed", "pip install",
                                               "ann:***@")),
    ("nosuch://x", ("is not a database URL", "sqlite:///")),
])
@pytest.mark.slow
def test_a_storage_url_without_its_driver_or_dialect(five_class_csv, tmp_path, storage, fragments):
    result = run_cli("fit", five_class_csv, "--storage", storage, "--output", tmp_path / "out")
    assert_clean_error(result, *fragments)
    assert "s3cret" not in result.output


@pytest.mark.slow
def test_a_category_unseen_in_training_is_warned_about_at_predict(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=80), "colour": rng.choice(["red", "blue"], 80)})
    frame["label"] = np.where(frame.a > 0, "up", "down")
    frame.to_csv(tmp_path / "train.csv", index=False)
    out = tmp_path / "out"
    assert run_cli("fit", tmp_path / "train.csv", "--trials", "1", "--max-epochs", "1", "--holdout",
                   "--output", out).exit_code == 0
    frame.loc[[0, 5], "colour"] = ["green", "mauve"]
    frame.to_csv(tmp_path / "new.csv", index=False)
    predicted = run_cli("predict", out / "model", tmp_path / "new.csv")
    assert predicted.exit_code == 0, predicted.output
    assert "warning: column 'colour' holds 2 value(s) never seen in training ('green', 'mauve')" in predicted.output
    clean = run_cli("predict", out / "model", tmp_path / "train.csv")
    assert clean.exit_code == 0 and "warning" not in clean.output
