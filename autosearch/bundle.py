"""Where `Bundle` lived before `autosearch.serving`: an MLflow Model logged before the move carries its own copy of
the code that loads it (`serving/pyfunc_model.py` as it was then), which runs `from autosearch.bundle import
Bundle`; this name keeps those models loading (tests/test_saved_bundles.py)."""

from autosearch.serving.bundle import Bundle

__all__ = ["Bundle"]
