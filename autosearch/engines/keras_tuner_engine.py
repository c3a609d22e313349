"""Search with keras-tuner: Hyperband (default), Bayesian optimisation or random search.

The space files are the ones the Optuna engine reads, translated by `hyperparameters` here; each trial's
values go back through `spaces.from_values` to the `TrialRunner`, so both engines build, train, score, log
and store networks the same way. keras-tuner's oracle decides what to try next; its project folder
(`keras_tuner/<study>` in the run folder) keeps the oracle's state, so a re-run with the same `--output`
resumes it, and a trial whose process died runs again (keras-tuner retries the trials it had running).

Hyperband trains each configuration it promotes from scratch for the round's larger epoch budget
(`tuner/epochs`), as in Li et al.'s Hyperband; keras-tuner's own warm start from the previous round's
checkpoint would need a saved model per trial. The search runs in one process.
"""

from __future__ import annotations

import contextlib
import io
import typing
from dataclasses import dataclass
from typing import Any, Mapping

from autosearch.engines.base import EngineOptions, SearchEngine, option, register
from autosearch.records import State

if typing.TYPE_CHECKING:
    from autosearch.spaces import ParamSpec, SearchSpace
    from autosearch.stopping import Stop
    from autosearch.trial_runner import TrialRunner

FOLDER = "keras_tuner"
HYPERBAND_FACTOR = 3
TUNERS = ("hyperband", "bayesian", "random")


class _Enough(BaseException):
    """Ends `tuner.search()` between trials (trial count reached, or a stop asked). A BaseException, so that
    keras-tuner does not take it for a failed trial: a trial it interrupts stays running in the oracle's
    state and is retried on resume."""


@dataclass(frozen=True)
class KerasTunerOptions(EngineOptions):
    tuner: str | None = option(help="keras-tuner's algorithm with --engine keras-tuner: hyperband (default), "
                                    "bayesian or random.", choices=TUNERS)


@register
class KerasTunerEngine(SearchEngine):
    name = "keras-tuner"
    summary = "Hyperband, Bayesian or random search, in this process"
    Options = KerasTunerOptions

    @property
    def tuner(self) -> str:
        return self.options.tuner or "hyperband"

    def describe(self) -> str:
        return f"keras-tuner {self.tuner}"

    def params(self) -> dict:
        return {"tuner": self.tuner}

    def open(self) -> None:
        self.folder = self.setup.folder / FOLDER / self.setup.study_name
        self.folder.mkdir(parents=True, exist_ok=True)

    def oracle(self):
        import keras_tuner as kt

        from autosearch.spaces import keyed, starting_point

        spaces, problem = self.setup.spaces, self.setup.problem
        by_family, several = {space.family: space for space in spaces}, len(spaces) > 1
        first = [keyed(by_family[c.family], c.params, problem.context, several) for c in self.setup.warm]
        if self.setup.portfolio:  # its oracles draw their first trials at random, not the defaults; the portfolio
            # leaves the defaults out as run already (its first entries), so they go before it here too
            first += [starting_point(space, problem.context, several) for space in spaces]
            first += [keyed(by_family[c.family], c.params, problem.context, several) for c in self.setup.portfolio]
        options = dict(objective=kt.Objective("val_score", problem.metric.mode),
                       hyperparameters=hyperparameters(spaces, problem.context), seed=self.setup.seed,
                       tune_new_entries=False, allow_new_entries=False,
                       max_consecutive_failed_trials=10**9)  # a failed trial never ends the search
        if self.tuner == "hyperband":  # rounds until --trials or the budget says stop
            return _first(kt.oracles.HyperbandOracle, first)(
                max_epochs=max(s.max_epochs for s in spaces), factor=HYPERBAND_FACTOR, hyperband_iterations=10**6,
                **options)
        if self.tuner == "bayesian":
            return _first(kt.oracles.BayesianOptimizationOracle, first)(max_trials=None, **options)
        return _first(kt.oracles.RandomSearchOracle, first)(max_trials=None, **options)

    def search(self, runner: TrialRunner, trials: int, stop: Stop, lead: bool) -> None:
        """Run keras-tuner trials until the store holds `trials` or `stop` asks to end."""
        import keras_tuner as kt
        from keras_tuner.src import config as kt_config

        from autosearch.spaces import from_values
        from autosearch.training import frozen_heap

        spaces, context, store = self.setup.spaces, self.setup.problem.context, runner.store

        class Tuner(kt.engine.base_tuner.BaseTuner):
            def pre_create_trial(self):
                if stop.requested or store.count() >= trials:
                    raise _Enough()

            def run_trial(self, trial, *args, **kwargs):
                values = trial.hyperparameters.values
                space, params = from_values(values, spaces, context)
                epochs = int(values["tuner/epochs"]) if "tuner/epochs" in values else None  # Hyperband's round
                record = runner.run(space.family, params, int(trial.trial_id), max_epochs=epochs)
                if record is None:  # stopped in its first epoch: left running in the oracle, it runs again
                    raise _Enough()
                if record.state is not State.COMPLETE:
                    raise kt.errors.FailedTrialError(record.error or record.state.value)
                return {"val_score": record.val_score}

            def save_model(self, trial_id, model, step=0):
                pass  # the winner is refitted from its parameters; no checkpoints are kept

        quiet = io.StringIO()  # keras-tuner prints its progress; ours is autosearch's
        kt_config.DEBUG = False  # else each failed or pruned trial prints a traceback (trial.message keeps it)
        with contextlib.redirect_stdout(quiet):
            tuner = Tuner(oracle=self.oracle(), directory=str(self.folder.parent), project_name=self.folder.name,
                          overwrite=False)
            tuner.oracle.verbose = 0
            tuner.save()  # from now on a re-run reloads this oracle, even if the first trial never ends
        with frozen_heap(), contextlib.redirect_stdout(quiet), contextlib.suppress(_Enough):
            tuner.search()


def _first(oracle: type, values: list[dict]) -> type:
    """`oracle` drawing `values` (the warm-start configurations) before its own. Every keras-tuner oracle draws a
    new configuration with `_random_values` (Hyperband's new brackets, random search, Bayesian optimisation's
    initial points): served from here, they are the first trials. keras-tuner has no public way to enqueue a
    trial; `_random_values` is its oracles' one source of new configurations. One the oracle already tried (a
    resumed search) is skipped by its own duplicate check."""
    queue = [dict(v) for v in values]

    class First(oracle):
        def _random_values(self):
            while queue:
                chosen = queue.pop(0)
                if not self._duplicate(dict(chosen)):
                    return chosen
            return super()._random_values()

    First.__name__ = First.__qualname__ = oracle.__name__
    return First


def hyperparameters(spaces: tuple[SearchSpace, ...], context: Mapping[str, Any]):
    """The space files' spaces as one keras-tuner `HyperParameters`: the same names, ranges, log scales and choices as
    `suggest` gives Optuna. A `when` on a data fact is settled here (the parameter is declared or not);
    a `when` on an earlier parameter, a per-layer value's layer count and, with several spaces, the
    family choice become conditional scopes."""
    import contextlib

    import keras_tuner as kt

    from autosearch.spaces import family_prefix

    hp = kt.HyperParameters()
    several = len(spaces) > 1
    if several:
        hp.Choice("family", [space.family for space in spaces], default=spaces[0].family)
    for space in spaces:
        prefix = family_prefix(space, several)
        specs = {spec.name: spec for spec in space.params}
        for spec in space.params:
            facts = [(k, v) for k, v in spec.when if k not in specs]
            if not all(context.get(k) in allowed for k, allowed in facts):
                continue
            scopes = [("family", [space.family])] if several else []
            scopes += [(prefix + k, list(v)) for k, v in spec.when if k in specs]
            names = [(spec.name, [])]
            if spec.per_layer:
                counter = specs[spec.per_layer]
                counts = ([int(counter.default)] if counter.type == "fixed"
                          else list(range(int(counter.low), int(counter.high) + 1)))
                names = [(f"{spec.name}_{i}", [] if counter.type == "fixed" else
                          [(prefix + spec.per_layer, [n for n in counts if n > i])]) for i in range(max(counts))]
            for name, layer_scope in names:
                with contextlib.ExitStack() as stack:
                    for parent, values in scopes + layer_scope:
                        stack.enter_context(hp.conditional_scope(parent, values))
                    _declare(hp, spec, prefix + name)
    return hp


def _declare(hp, spec: ParamSpec, name: str) -> None:
    sampling = "log" if spec.log else "linear"
    if spec.type == "int":
        hp.Int(name, int(spec.low), int(spec.high), step=int(spec.step) if spec.step and not spec.log else None,
               sampling=sampling, default=int(spec.start()))
    elif spec.type == "float":
        hp.Float(name, float(spec.low), float(spec.high), step=spec.step if not spec.log else None,
                 sampling=sampling, default=float(spec.start()))
    elif spec.type == "categorical":
        hp.Choice(name, list(spec.choices), ordered=False, default=spec.start())
    else:
        hp.Fixed(name, spec.default)
