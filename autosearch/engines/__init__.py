"""Search engines: each proposes the trials of a run's search spaces; the `TrialRunner` runs them.

The contract and the registry are in `base.py`. Importing this package (or anything in it) registers the
engines that ship with autosearch, in the order `--engine` lists them; each imports its heavy library only
when it searches.
"""

from autosearch.engines.base import DEFAULT_ENGINE, ENGINES, engine_class, option_fields

from autosearch.engines import optuna_engine  # noqa: F401, E402  # isort: skip
from autosearch.engines import keras_tuner_engine  # noqa: F401, E402  # isort: skip
from autosearch.engines import ray_engine  # noqa: F401, E402  # isort: skip

__all__ = ["DEFAULT_ENGINE", "ENGINES", "engine_class", "option_fields"]
