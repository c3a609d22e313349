"""Reading data files: every supported format gives the same frame."""

import pandas as pd
import pytest

from autosearch.data.load import load_table


@pytest.mark.parametrize("suffix, write", [
    (".csv", lambda f, p: f.to_csv(p, index=False)),
    (".tsv", lambda f, p: f.to_csv(p, index=False, sep="\t")),
    (".parquet", lambda f, p: f.to_parquet(p, index=False)),
])
def test_formats_load_alike(iris_csv, tmp_path, suffix, write):
    frame = pd.read_csv(iris_csv)
    path = tmp_path / f"iris{suffix}"
    write(frame, path)
    loaded = load_table(path)
    assert list(loaded.columns) == list(frame.columns) and len(loaded) == len(frame)
    assert loaded["species"].tolist() == frame["species"].tolist()
