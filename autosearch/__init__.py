"""autosearch: find the best model for a dataset, ranked against classical baselines, tracked in MLflow.

>>> import autosearch
>>> result = autosearch.fit("data.csv", target="label", trials=10)      # doctest: +SKIP
>>> autosearch.predict(result.bundle_path, "new.csv")                   # doctest: +SKIP
"""

import os as _os

# TensorFlow's C++ start-up chatter ("could not find cuda drivers", oneDNN notes) is noise to users.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
__all__ = ["fit", "predict", "resume", "test_candidate", "load", "AutoSearchClassifier", "AutoSearchRegressor",
           "AutosearchError"]

from autosearch.errors import AutosearchError  # noqa: E402


def __getattr__(name: str):
    # fit/predict pull in pandas and scikit-learn: load them on first use, not on `import autosearch`.
    if name in ("fit", "predict", "resume", "test_candidate"):
        from autosearch import api
        return getattr(api, name)
    if name in ("load", "AutoSearchClassifier", "AutoSearchRegressor"):
        from autosearch import estimator
        return getattr(estimator, name)
    raise AttributeError(name)


def __dir__() -> list[str]:
    # the lazily loaded names too: dir(autosearch) and tab completion show fit, load, AutoSearchClassifier…
    return sorted(set(globals()) | set(__all__))
