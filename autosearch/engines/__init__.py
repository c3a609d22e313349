"""Search engines: each runs the trials of a run's search spaces and keeps their TrialRecords.

An engine asks for parameters, trains each network with `training.train_network`, hands every
finished trial to `on_trial` (which logs it), stores its record with the engine's own state (so a run
resumes), and stops at the trial count or the deadline. `optuna_engine` (the default) and
`keras_tuner_engine.KerasTunerEngine` offer the same functions.
"""

ENGINES = ("optuna", "keras-tuner")


def engine_for(name: str, tuner: str | None = None):
    """The engine a run asked for (imported only then: keras-tuner takes seconds to import)."""
    if name == "keras-tuner":
        from autosearch.engines.keras_tuner_engine import KerasTunerEngine
        return KerasTunerEngine(tuner or "hyperband")
    from autosearch.engines import optuna_engine
    return optuna_engine
