"""The bundle's files, safe to load: scikit-learn objects in skops' format instead of pickles, read back only
when every type they name is one a bundle holds; and a SHA-256 of every file, checked before anything loads.

A pickle runs whatever code its file names when it is loaded, so a model folder someone shares could run a
command on `autosearch predict`. skops' format names the types it holds and builds them without running code
from the file; `load` refuses one that names any type outside skops' own trusted ones and the closed list
TRUSTED, before importing or building anything. Keras models stay `.keras` files, read
with Keras' `safe_mode` (no code from the file either).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

from autosearch.errors import AutosearchError

SKOPS_SUFFIX = ".skops"
# Every type a bundle's skops files name beyond skops' own trusted scikit-learn and NumPy types, and nothing else:
# the preprocessing, the target codec, their functions, and the internals of the baselines (listed by dumping
# every baseline family for every task, and every preprocessing; a test checks each kind's bundle loads).
TRUSTED = frozenset({
    "autosearch.preprocessing.ArrayFeatures", "autosearch.preprocessing.TableFeatures",
    "autosearch.preprocessing.TextFeatures", "autosearch.preprocessing.WindowFeatures",
    "autosearch.naive.NaiveForecast", "autosearch.naive.SeasonalNaiveForecast", "autosearch.naive.WindowMeanForecast",
    "autosearch.local_forecasts.DampedSmoothingForecast", "autosearch.local_forecasts.ThetaForecast",
    "autosearch.preprocessing._as_text",
    "autosearch.preprocessing._date_parts",
    "autosearch.preprocessing._fill_text", "autosearch.targets.TargetCodec", "autosearch.targets._log1p",
    "numpy.dtype", "sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", "sklearn.tree._tree.Tree",
    "sklearn.frozen._frozen.FrozenEstimator",
})
CHUNK = 1 << 20


def dump(obj: Any, path: Path) -> None:
    import skops.io

    skops.io.dump(obj, path)


def load(path: Path) -> Any:
    """The object in a skops file `dump` wrote; an AutosearchError if the file names a type outside skops'
    trusted ones and TRUSTED (nothing is imported or built before that check), or cannot be read."""
    import skops.io

    try:
        data = path.read_bytes()  # read once: what is checked is what is loaded
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as error:
        raise AutosearchError(f"'{path}' cannot be read ({type(error).__name__}): the file is damaged; refit the "
                              "model, or copy its folder again") from None
    refused = sorted(set(untrusted) - TRUSTED)
    if refused:
        raise AutosearchError(f"'{path}' names types a model never holds ({', '.join(refused[:3])}): it was "
                              "changed after autosearch wrote it; do not load it, refit the model")
    try:
        return skops.io.loads(data, trusted=untrusted)
    except Exception as error:
        raise AutosearchError(f"'{path}' cannot be read ({type(error).__name__}: {str(error)[:120]}); refit the "
                              "model, or copy its folder again") from None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksums(folder: Path, skip: str) -> dict[str, str]:
    """{path relative to `folder`: SHA-256} of every file under it but `skip` (the file that keeps them)."""
    return {p.relative_to(folder).as_posix(): sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).as_posix() != skip}


def verify(folder: Path, expected: Mapping[str, str]) -> None:
    """An AutosearchError naming the first file of `folder` that is missing or differs from its SHA-256."""
    for name, digest in expected.items():
        path = folder / name
        if not path.is_file():
            raise AutosearchError(f"'{folder}' misses {name}: the model folder is incomplete; copy it again, or "
                                  "refit the model")
        if sha256(path) != digest:
            raise AutosearchError(f"'{path}' is not the file autosearch saved (its SHA-256 differs): it was changed "
                                  "or damaged; copy the model folder again, or refit the model")
