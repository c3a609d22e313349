"""Reading data files: every supported format gives the same frame."""

import pandas as pd
import pytest

from autosearch.data.load import load_table


@pytest.mark.parametrize("suffix, write", [
    (".csv", lambda f, p: f.to_csv(p, index=False)),
    (".tsv", lambda f, p: f.to_csv(p, index=False, sep="\t")),
    (".csv", lambda f, p: f.to_csv(p, index=False, sep=";", decimal=",")),  # Excel where 1,5 is one and a half
    (".csv", lambda f, p: f.to_csv(p, index=False, sep="|")),
    (".parquet", lambda f, p: f.to_parquet(p, index=False)),
])
def test_formats_load_alike(iris_csv, tmp_path, suffix, write):
    frame = pd.read_csv(iris_csv)
    path = tmp_path / f"iris{suffix}"
    write(frame, path)
    loaded = load_table(path)
    assert list(loaded.columns) == list(frame.columns) and len(loaded) == len(frame)
    assert loaded["species"].tolist() == frame["species"].tolist()
    numbers = frame.select_dtypes("number").columns
    assert len(numbers) and (loaded[numbers].dtypes == "float64").all()
    assert ((loaded[numbers] - frame[numbers]).abs().fillna(0) < 1e-9).all().all()


def test_a_question_mark_is_a_missing_value_as_uci_files_write_it(tmp_path):
    path = tmp_path / "uci.csv"
    path.write_text("age, job, y\n39, clerk, yes\n?, ?, no\n41.5, nurse, no\n")  # adult.data's ", " too
    loaded = load_table(path)
    assert loaded["age"].dtype == "float64" and loaded["age"].isna().tolist() == [False, True, False]
    assert loaded["job"].isna().tolist() == [False, True, False] and list(loaded.columns) == ["age", "job", "y"]
    assert loaded["y"].tolist() == ["yes", "no", "no"]


def test_an_excel_export_with_a_comma_in_a_header_name_and_windows_encoding_reads_as_its_columns(tmp_path):
    path = tmp_path / "umsatz.csv"
    path.write_bytes("Umsatz, netto;Menge;Kategorie\n1,5;2;Bäckerei\n2,25;3;Café\n".encode("cp1252"))
    loaded = load_table(path)
    assert list(loaded.columns) == ["Umsatz, netto", "Menge", "Kategorie"]
    assert loaded["Umsatz, netto"].tolist() == [1.5, 2.25] and loaded["Kategorie"].tolist() == ["Bäckerei", "Café"]
