"""Search with Optuna: seeded TPE, median pruning on per-epoch validation scores, a persistent study.

The study lives in the run's database (the run folder's SQLite file by default), so a search survives its
process: a resumed or parallel process picks up where the study stands, and trials whose process died are
marked failed and run again (at once when the process was on this machine, else once Optuna's heartbeat
goes stale). Several processes can share one study (`shares_search`): each runs trials until the run's
store holds the total.
"""

from __future__ import annotations

import time
import typing

from autosearch.engines.base import SearchEngine, register
from autosearch.records import CandidateKind, State

if typing.TYPE_CHECKING:
    from autosearch.stopping import Stop
    from autosearch.trial_runner import TrialRunner

POLL_SECONDS = 2.0
WORKER = "autosearch.worker"  # on an Optuna trial: host:pid:start of the process running it
RUN_ID = "autosearch.mlflow_run_id"  # on an Optuna trial: its MLflow run, to close if its process dies


class TrialFailed(Exception):
    """Tells Optuna a trial failed; the sweep goes on (`catch` below)."""


class NotRun(Exception):
    """A trial that will not count: surplus to the total, or stopped before its first epoch ended."""


@register
class OptunaEngine(SearchEngine):
    name = "optuna"
    summary = "TPE with median pruning, in this process or several sharing a study"
    shares_search = True
    prunes = True

    def describe(self) -> str:
        return "Optuna TPE"

    def open(self) -> None:
        from autosearch.engines.optuna_study import open_study

        self._runner: TrialRunner | None = None  # told about stale trials found during a search
        s = self.setup
        self.study = open_study(s.storage, s.study_name, s.problem, s.seed, self._stale, s.spaces, s.warm, s.portfolio)

    def _stale(self, study, trial) -> None:
        if self._runner is not None and trial.number not in self._runner.store.numbers():
            self._runner.lost(trial.user_attrs.get(RUN_ID), "its process stopped answering (no heartbeat)",
                              trial.number)

    def recover(self, runner: TrialRunner) -> None:
        """Mark failed the running trials whose process is gone: dead on this machine, or silent too long."""
        import optuna
        from optuna.trial import TrialState

        from autosearch.processes import is_dead_here

        self._runner = runner
        stored = {r.number: r for r in runner.store.records(CandidateKind.NETWORK)}
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = trial.user_attrs.get(WORKER, "")
            if not (worker and is_dead_here(worker)):
                continue
            record = stored.get(trial.number)  # its process died after storing it, before telling Optuna
            try:
                if record is None:
                    self.study.tell(trial.number, state=TrialState.FAIL)
                elif record.state is State.COMPLETE:
                    self.study.tell(trial.number, record.val_score)
                else:
                    self.study.tell(trial.number, state=TrialState.PRUNED if record.state is State.PRUNED
                                    else TrialState.FAIL)
            except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
                continue  # another process marked it first
            if record is None:
                runner.lost(trial.user_attrs.get(RUN_ID), f"its process ({worker}) died", trial.number)
        optuna.storages.fail_stale_trials(self.study)

    def in_flight(self) -> set[str]:
        from optuna.trial import TrialState

        return {t.user_attrs[RUN_ID] for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if RUN_ID in t.user_attrs}

    def _running(self) -> set[int]:
        from optuna.trial import TrialState

        return {t.number for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}

    def search(self, runner: TrialRunner, trials: int, stop: Stop, lead: bool) -> None:
        """Run trials until the store holds `trials`, or `stop` says so. With several spaces the family is
        itself a searched parameter, and Optuna knows each family's parameters as `<family>.<name>`. Leading,
        it also waits for other processes' trials to finish, and runs again any that were lost."""
        import optuna
        from optuna_integration import KerasPruningCallback

        from autosearch.processes import worker_id
        from autosearch.spaces import suggest_family
        from autosearch.training import frozen_heap

        study, setup, store = self.study, self.setup, runner.store
        self._runner = runner

        def objective(trial: optuna.Trial) -> float:
            if self._rank(trial.number, store) >= trials or stop.requested:
                study.stop()
                raise NotRun("surplus" if not stop.requested else stop.why)
            trial.set_user_attr(WORKER, worker_id())
            space, params = suggest_family(trial, setup.spaces, setup.problem.context)
            started = runner.start(space.family, params, trial.number)
            trial.set_user_attr(RUN_ID, started.run_id)
            record = runner.train(started, callbacks=[KerasPruningCallback(trial, "val_score")],
                                  prune_signals=(optuna.TrialPruned,))
            if record is None:
                raise NotRun(f"stopped before its first epoch ended ({stop.why})")
            if record.state is State.PRUNED:
                raise optuna.TrialPruned()
            if record.state is State.FAILED:
                raise TrialFailed(record.error)
            return record.val_score

        def enough(study: optuna.Study, _trial) -> None:
            if stop.requested or store.count() >= trials:
                study.stop()

        with frozen_heap():
            while not stop.requested:
                self.recover(runner)
                done, running = store.count(), len(self._running())
                if done >= trials or (running and not lead and done + running >= trials):
                    break
                if done + running < trials:
                    study.optimize(objective, catch=(TrialFailed, NotRun), callbacks=[enough])
                else:
                    time.sleep(POLL_SECONDS)  # the last trials run elsewhere

    def _rank(self, number: int, store) -> int:
        """How many trials before this one count or may count: those stored, and those running."""
        return sum(1 for n in store.numbers() | self._running() if n < number)
