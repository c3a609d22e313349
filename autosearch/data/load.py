"""Read a data file into a DataFrame, with one-line errors for the ways that fails."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from autosearch.errors import AutosearchError

READERS = {".csv": pd.read_csv, ".tsv": lambda p: pd.read_csv(p, sep="\t"), ".parquet": pd.read_parquet,
           ".pq": pd.read_parquet}


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
