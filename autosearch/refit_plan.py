"""What the end of a fit refits, and how, decided before anything is trained: the pick (a candidate, or the
ensemble's members), the best network and baseline refitted beside it to compare on test where the time left
allows, and how each network is served (its kept fold models, its fold models trained again, or one model
refitted on all samples). It reads the records and the time left and trains nothing, so its rules (the
budget's, the fallbacks') are tested without training (tests/test_refit_plan.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Collection, Iterable, Mapping, Sequence

from autosearch.errors import AutosearchError
from autosearch.leaderboard import best_of, winner
from autosearch.metrics import Metric
from autosearch.records import STACK_FAMILY as STACK
from autosearch.records import CandidateKind, TrialRecord
from autosearch.stopping import REFIT_FACTOR, Stop, kept_refit_seconds

CHEAP_REFIT = 1.0  # seconds of refits beyond the best single candidate's that never cost an ensemble its place


@dataclass(frozen=True)
class RefitPlan:
    """The end of a fit, planned: `records` are the leaderboard's candidates (an ensemble that gave way left
    out), `pick` the winner and `weights` its served members (the pick alone: weight 1), `compared` the best
    network and baseline refitted to compare on test, `refits` every candidate refitted (the pick's members
    first, by weight). Networks in `bag` are served as their fold models (those the search kept, or trained
    again), in `serve_kept` as the search trained them on the training split (scored on a holdout); the others
    are refitted once on all samples. `single` is the best single candidate, the pick's fallback; `notes` what
    the plan tells the user."""

    records: tuple[TrialRecord, ...]
    pick: TrialRecord
    weights: Mapping[str, float]
    compared: tuple[TrialRecord, ...]
    refits: tuple[str, ...]
    bag: frozenset[str]
    serve_kept: frozenset[str]
    single: TrialRecord | None
    ahead: frozenset[str] = frozenset()  # candidates cut short but ahead on the samples they scored (ensemble.py)
    set_aside: str | None = None  # why no network may be the pick (`ensemble.networks_set_aside`), if so
    notes: tuple[str, ...] = ()

    def record(self, name: str) -> TrialRecord:
        return next(r for r in self.records if r.name == name)

    def fallback(self, failed: Mapping[str, str], refitted: Collection[str]) -> RefitPlan:
        """The plan once the refits ran: unchanged while every member of the pick was refitted; an ensemble with
        a member that failed gives way to the best single candidate where that one was refitted. A pick that
        cannot be served at all is an error."""
        if not any(name in failed for name in self.weights):
            return self
        single = self.single
        if self.pick.kind is not CandidateKind.ENSEMBLE or single is None or single.name not in refitted:
            raise AutosearchError(f"refitting the pick {self.pick.name} on train+validation failed "
                                  f"({next(iter(failed.values()))})")
        return dataclasses.replace(
            self, records=tuple(r for r in self.records if r.kind is not CandidateKind.ENSEMBLE), pick=single,
            weights={single.name: 1.0}, notes=(f"the best single candidate, {single.name}, is the pick",))


def plan(records: Sequence[TrialRecord], metric: Metric, folds: int, stop: Stop, kept: Collection[str] = (),
         ahead: Collection[str] = (), set_aside: str | None = None) -> RefitPlan:
    """Plan the end of a fit over `records` scored on `folds` folds (1: a holdout), with the time `stop` leaves;
    networks named in `kept` have their fold models kept by the search (built, not trained). With `set_aside`
    no network is the pick, alone or in the ensemble.

    What does not fit in the time left is left out, and said: an ensemble whose members' refits would not fit
    gives way to the best single candidate; the best network and baseline are refitted for comparison where
    time is left, or where their refit takes about a second (`CHEAP_REFIT`: a linear model's, within what
    writing the results keeps back; on a 45-second run of R's `Train` table the linear baseline, 0.03 s to refit,
    went unscored on test because the pick's kept networks were counted at 2 s each); fold models are trained
    again, best first, while the time allows."""
    records, notes = tuple(records), []
    by_name = {r.name: r for r in records}
    pickable = [r for r in records if not (set_aside and r.kind is CandidateKind.NETWORK)]
    win = winner(pickable, metric, ahead)
    if win is None:
        raise AutosearchError("no candidate completed, not even the baselines; check the data")
    single = winner([r for r in pickable if r.kind is not CandidateKind.ENSEMBLE], metric, ahead)
    if win.kind is CandidateKind.ENSEMBLE and not ensemble_fits([by_name[n] for n in win.params], single, stop, kept):
        notes.append("the ensemble's members cannot all be refitted in the time left: the best single candidate "
                     "is the pick")
        records, win = tuple(r for r in records if r.kind is not CandidateKind.ENSEMBLE), single
    weights = dict(win.params) if win.kind is CandidateKind.ENSEMBLE else {win.name: 1.0}
    names = sorted(weights, key=weights.get, reverse=True)
    compared = []
    for kind in (CandidateKind.NETWORK, CandidateKind.BASELINE):  # compared where their refits fit, or are cheap
        candidate = best_of(records, metric, kind, ahead)
        if candidate is not None and (candidate.name in names or refit_seconds([candidate], False, kept) <= CHEAP_REFIT
                                      or stop.fits(refit_seconds((by_name[n] for n in [*names, candidate.name]),
                                                                 False, kept))):
            compared.append(candidate)
            names += [] if candidate.name in names else [candidate.name]
    notes.append(f"refitting {_describe(win, weights)} on train+validation"
                 + (f", and {', '.join(n for n in names if n not in weights)} to compare"
                    if len(names) > len(weights) else "") + ", and scoring them once on test")
    bag, serve_kept = served_as([by_name[n] for n in names], stop, kept)
    notes += _how_served([by_name[n] for n in names], folds, bag, serve_kept, kept)
    return RefitPlan(records, win, weights, tuple(compared), tuple(names), frozenset(bag), frozenset(serve_kept),
                     single, frozenset(ahead), set_aside, tuple(notes))


def served_as(candidates: Sequence[TrialRecord], stop: Stop,
              kept: Collection[str] = ()) -> tuple[set[str], set[str]]:
    """How the networks among `candidates` (most important first) are served: (the cross-validated networks
    served as their fold models: those kept by the search, and, in that order while the time left allows once a
    refit of every candidate is counted, those whose fold models can be trained again; the networks scored on a
    holdout that the search kept, served as it trained them). As a bag of fold models, a holdout network is
    served as its score measured it: a refit on train+validation for the best epoch count chosen on the holdout
    lands anywhere on a noisy curve (diamonds, 2 minutes: a dense net's validation RMSE 610, served 623 on test,
    refitted 728; on a 100,000-row table the refit's 25 % more rows gained 0.6 %, 1.032 vs 1.038)."""
    planned = refit_seconds(candidates, False, kept)
    bagged = {r.name for r in candidates if r.name in kept and r.bagged}
    served = {r.name for r in candidates if r.name in kept and not r.bagged}
    for record in candidates:
        if record.bagged and record.name not in kept:
            extra = REFIT_FACTOR * (record.refit_seconds - record.one_fit_seconds)
            if stop.fits(planned + extra):
                bagged.add(record.name)
                planned += extra
    return bagged, served


def ensemble_fits(members: Sequence[TrialRecord], single: TrialRecord | None, stop: Stop,
                  kept: Collection[str] = ()) -> bool:
    """Whether the ensemble's members can be refitted in the time left. The best single candidate, its
    fallback, is refitted anyway: only the members' refits beyond its own count, and where they take about a
    second (the common-sense and statistical forecasts, which learn nothing; a linear model) they always fit:
    writing the results keeps `stopping.FINISH_SECONDS` of slack (on usmelec at 2 minutes a forecast's
    ensemble of theta, ridge, the seasonal naive and extra trees, ~0.6 s of refits, gave way to ridge alone
    with 6 s left)."""
    extra = refit_seconds(members, False, kept) - (refit_seconds([single], False, kept) if single else 0.0)
    return extra <= CHEAP_REFIT or stop.fits(extra)


def refit_seconds(records: Iterable[TrialRecord], bag: bool = True, kept: Collection[str] = ()) -> float:
    """What refitting `records` takes (with `bag`, a cross-validated network's fold models trained again): a
    network whose fold models are `kept` is built, not trained."""
    return sum(REFIT_FACTOR * (kept_refit_seconds(r) if r.name in kept
                               else r.refit_seconds if bag else r.one_fit_seconds) for r in records)


def _how_served(candidates: Sequence[TrialRecord], folds: int, bag: Collection[str], serve_kept: Collection[str],
                kept: Collection[str]) -> list[str]:
    """What the user is told of how the networks among `candidates` are served."""
    notes = []
    single = [r.name for r in candidates if r.bagged and r.name not in bag]
    if single:
        notes.append(f"no time left to train the fold models of {', '.join(single)} again: refitted on all samples")
    served = [r.name for r in candidates if r.name in kept and r.bagged]
    if served:
        notes.append(f"{', '.join(served)}: served as the fold models the search trained and kept (no training)")
    if serve_kept:
        them = "them" if len(serve_kept) > 1 else "it"
        notes.append(f"{', '.join(r.name for r in candidates if r.name in serve_kept)}: served as the search "
                     f"trained {them} on the training split and kept (scored on the holdout: no training)")
    again = [r.name for r in candidates if r.kind is CandidateKind.NETWORK and folds == 1 and r.name not in serve_kept]
    if again:
        notes.append(f"{', '.join(again)}: trained again on the training split as the search trained "
                     f"{'them' if len(again) > 1 else 'it'} (scored on the holdout)")
    return notes


def _describe(win: TrialRecord, weights: Mapping[str, float]) -> str:
    if win.kind is not CandidateKind.ENSEMBLE:
        return f"the winner {win.name}"
    if win.family == STACK:
        return "the winner, a stacker over " + ", ".join(weights)
    return "the winner, an ensemble of " + ", ".join(f"{n} ({w:.2f})" for n, w in weights.items())
