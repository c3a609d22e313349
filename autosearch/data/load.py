"""Read a data file or folder as it is, with one-line errors for the ways that fails."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from autosearch.errors import AutosearchError

MISSING_MARKS = ["?"]  # read as missing beside pandas' own (NA, N/A, null, nan, empty): UCI's mark for one
DELIMITERS = (",", ";", "\t", "|")
SNIFF_LINES = 20


def delimiter(path: Path) -> str:
    """The field separator of a CSV/TSV file: a tab for .tsv; for .csv, of a comma, semicolon (Excel's export
    where the decimal mark is a comma), tab or pipe, the one that splits the first lines into the same number
    of fields, the most; a comma where none does."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    import csv
    import io

    with open(path, encoding="utf-8", errors="replace") as f:
        head = "".join(line for _, line in zip(range(SNIFF_LINES), f))
    best, fields = ",", 1
    for mark in DELIMITERS:
        counts = {len(row) for row in csv.reader(io.StringIO(head), delimiter=mark) if row}
        if len(counts) == 1 and (n := counts.pop()) > fields:
            best, fields = mark, n
    return best


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV/TSV file as pandas reads it, with its delimiter found (`delimiter`), Windows' encoding where it is
    no UTF-8 (Excel's exports), and decimal commas in a semicolon-separated file."""
    sep = delimiter(path)
    options = {"sep": sep, "na_values": MISSING_MARKS, "skipinitialspace": True,  # UCI's "39, State-gov, ?"
               **({"decimal": ","} if sep == ";" else {})}
    try:
        frame = pd.read_csv(path, **options)
    except UnicodeDecodeError:
        frame = pd.read_csv(path, encoding="cp1252", **options)
    if sep == ";":  # numbers written with a decimal point in a semicolon file stay text: convert them
        for col in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[col]):
                numbers = pd.to_numeric(frame[col], errors="coerce")
                if numbers.notna().sum() == frame[col].notna().sum() > 0:
                    frame[col] = numbers
    return frame


READERS = {".csv": read_csv, ".tsv": read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}


def load_table(path: str | Path) -> pd.DataFrame:
    """Load a CSV, TSV or Parquet file; never returns an empty frame."""
    path = Path(path)
    if not path.exists():
        raise AutosearchError(f"data file '{path}' does not exist; check the path")
    if path.is_dir():
        raise AutosearchError(f"'{path}' is a folder; pass a CSV or Parquet file")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise AutosearchError(
            f"'{path.name}' has an unknown file type '{path.suffix}'; use .csv, .tsv or .parquet"
        )
    try:
        frame = reader(path)
    except pd.errors.EmptyDataError:
        raise AutosearchError(f"'{path}' is empty; give a file with a header row and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AutosearchError(f"could not read '{path}' ({first}); check it is a valid {path.suffix} file") from None
    if frame.shape[1] == 0:
        raise AutosearchError(f"'{path}' has no columns; give a file with a header row and data rows")
    if len(frame) == 0:
        raise AutosearchError(f"'{path}' has a header but no data rows; add rows of data")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def duplicate_headers(path: Path) -> tuple[str, ...]:
    """For a CSV/TSV whose header names a column twice, what pandas read it as ('x', 'x.1'), to be said."""
    if path.suffix.lower() not in (".csv", ".tsv"):
        return ()
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        header = next(csv.reader(f, delimiter=delimiter(path), skipinitialspace=True), [])
    counts = pd.Series(header).value_counts()
    return tuple(f"column '{name}' appears {n} times in the header: read as '{name}', "
                 + ", ".join(f"'{name}.{i}'" for i in range(1, n)) + "; rename them to say which is which"
                 for name, n in counts[counts > 1].items())


@dataclass(frozen=True, eq=False)
class RawData:
    """What a file or folder holds, before any interpretation: a table, or arrays (.npz, image folder)."""

    name: str
    frame: pd.DataFrame | None = None
    X: np.ndarray | None = None
    y: np.ndarray | None = None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    files: tuple[str, ...] = ()  # image folders: the file behind each sample
    notes: tuple[str, ...] = ()  # what reading it changed, to tell the user (duplicate column names)
    image_size: tuple[int, int] | None = None
    color_mode: str | None = None

    @property
    def is_table(self) -> bool:
        return self.frame is not None


def load_data(path: str | Path, labelled: bool = True, image_size=None, color_mode=None) -> RawData:
    """Read a CSV/TSV/Parquet table, an .npz of arrays, or a folder of images.

    `labelled`: the data must carry its targets (fit) rather than only features (predict).
    """
    path = Path(path)
    if path.is_dir():
        from autosearch.data.images import load_image_folder

        X, y, files, size, mode = load_image_folder(path, labelled, image_size, color_mode)
        return RawData(path.name, X=X, y=None if y is None else np.asarray(y), files=tuple(files),
                       image_size=size, color_mode=mode)
    if path.suffix.lower() == ".npz":
        return _load_npz(path, labelled)
    return RawData(path.stem, frame=load_table(path), notes=duplicate_headers(path))


def _load_npz(path: Path, labelled: bool) -> RawData:
    if not path.exists():
        raise AutosearchError(f"data file '{path}' does not exist; check the path")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise AutosearchError(f"could not read '{path}' ({e}); save it with numpy.savez") from None
    if "X" not in arrays or (labelled and "y" not in arrays):
        raise AutosearchError(f"'{path.name}' needs arrays named X and y (and optionally X_test, y_test); "
                              f"it has {', '.join(arrays) or 'none'}")
    for x, y in (("X", "y"), ("X_test", "y_test")):
        if x in arrays and y in arrays and len(arrays[x]) != len(arrays[y]):
            raise AutosearchError(f"'{path.name}': {x} has {len(arrays[x])} samples but {y} has {len(arrays[y])}; "
                                  "give one target per sample")
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise AutosearchError(f"'{path.name}' has only one of X_test and y_test; give both or neither")
    if len(arrays["X"]) == 0:
        raise AutosearchError(f"'{path.name}' has no samples in X; add data")
    return RawData(path.stem, X=arrays["X"], y=arrays.get("y"), X_test=arrays.get("X_test"),
                   y_test=arrays.get("y_test"))
