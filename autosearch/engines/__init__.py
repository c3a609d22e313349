"""Search engines: each runs the trials of a run's search spaces and keeps their TrialRecords.

An engine asks for parameters, trains each network with `training.train_network`, hands every
finished trial to `on_trial` (which logs it), stores its record with the engine's own state (so a run
resumes), and stops at the trial count or the deadline. `optuna_engine` (the default) and
`keras_tuner_engine.KerasTunerEngine` and `ray_engine.RayEngine` offer the same functions.
"""



def engine_for(config, folder):
    """The engine a run asked for (imported only then: keras-tuner and Ray take seconds to import)."""
    if config.engine == "keras-tuner":
        from autosearch.engines.keras_tuner_engine import KerasTunerEngine
        return KerasTunerEngine(config.tuner or "hyperband")
    if config.engine == "ray":
        from autosearch.engines.ray_engine import RayEngine
        return RayEngine(config.ray_address, config.concurrency, config.cpus_per_trial, config.gpus_per_trial,
                         config.scheduler or "asha", folder)
    from autosearch.engines import optuna_engine
    return optuna_engine
