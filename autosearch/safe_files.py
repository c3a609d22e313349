"""The bundle's files, safe to load: scikit-learn objects in skops' format instead of pickles, read back only
when every type they name is one a bundle holds; and a SHA-256 of every file, checked before anything loads.

A pickle runs whatever code its file names when it is loaded, so a model folder someone shares could run a
command on `autosearch predict`. skops' format names the types it holds and builds them without running code
from the file; `load` refuses one that names a type outside TRUSTED_PACKAGES' classes and the few functions
the preprocessing uses (TRUSTED_FUNCTIONS), before building anything. Keras models stay `.keras` files, read
with Keras' `safe_mode` (no code from the file either).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from pathlib import Path
from typing import Any, Mapping

from autosearch.errors import AutosearchError

SKOPS_SUFFIX = ".skops"
TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy", "autosearch")  # their classes; never their functions, but:
TRUSTED_FUNCTIONS = frozenset({  # the functions a fitted preprocessing names (FunctionTransformer's)
    "autosearch.preprocessing._as_text", "autosearch.preprocessing._fill_text", "autosearch.targets._log1p",
})
CHUNK = 1 << 20


def dump(obj: Any, path: Path) -> None:
    import skops.io

    skops.io.dump(obj, path)


def _trusted(name: str) -> bool:
    """Whether a type named in a skops file may be built: a class of TRUSTED_PACKAGES, or one of
    TRUSTED_FUNCTIONS (importing the module it names, which must be in one of those packages).

    >>> _trusted("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"), _trusted("numpy.dtype")
    (True, True)
    >>> _trusted("os.system"), _trusted("builtins.eval"), _trusted("numpy.load"), _trusted("sklearn.nothing.Here")
    (False, False, False, False)
    """
    if name in TRUSTED_FUNCTIONS:
        return True
    module, _, attribute = name.rpartition(".")
    if module.split(".")[0] not in TRUSTED_PACKAGES:
        return False
    try:
        found = getattr(importlib.import_module(module), attribute, None)
    except ImportError:
        return False
    return inspect.isclass(found)


def load(path: Path) -> Any:
    """The object in a skops file `dump` wrote; an AutosearchError if it names a type a bundle never holds."""
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(file=path)
        refused = [name for name in untrusted if not _trusted(name)]
        if refused:
            raise AutosearchError(f"'{path}' names types a model never holds ({', '.join(refused[:3])}): it was "
                                  "changed after autosearch wrote it; do not load it, refit the model")
        return skops.io.load(path, trusted=untrusted)
    except AutosearchError:
        raise
    except Exception as error:
        raise AutosearchError(f"'{path}' cannot be read ({type(error).__name__}): the file is damaged; refit the "
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
