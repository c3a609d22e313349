"""A portfolio learnt offline: for a kind of data, network configurations chosen greedily for coverage across a
collection of datasets (`scripts/build_portfolio.py`, which states the collection in the file), that a new
search runs right after each family's defaults and before its sampler's own first draws — where TPE would draw
at random (TabRepo's zero-shot portfolios, Auto-sklearn 2's in spirit).

The files are `search_spaces/portfolio/<kind>.yaml`. Entries are fitted to this search's spaces as a warm
start's are (`warm_start.fit_to_space`); the build's copies of the defaults are left out (the spaces' own
defaults run first). Not with `--warm-start` (its configurations come first instead) nor with `--space` files
(the portfolio was chosen in the packaged spaces).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from autosearch.errors import AutosearchError
from autosearch.records import PORTFOLIO_MARK, WarmConfig
from autosearch.spaces import SearchSpace, is_starting_point
from autosearch.warm_start import fit_to_space, within
from autosearch.yamlfile import read_yaml


def portfolio_path(kind: str) -> Path:
    return Path(str(resources.files("autosearch.search_spaces") / "portfolio" / f"{kind}.yaml"))


def entries(path: Path) -> list[dict[str, Any]]:
    """The file's configurations, in order: each a family and its parameters."""
    data = read_yaml(path, "portfolio")
    found = data.get("configurations") if isinstance(data, dict) else None
    if not isinstance(found, list) or not all(isinstance(e, dict) and "family" in e and isinstance(e.get("params"),
                                                                                                  dict) for e in found):
        raise AutosearchError(f"portfolio '{path}' needs a list `configurations` of entries with `family` and "
                              "`params`; rebuild it with scripts/build_portfolio.py")
    return found


def portfolio(kind: str, spaces: Sequence[SearchSpace], context: Mapping[str, Any]) -> tuple[WarmConfig, ...]:
    """The portfolio of `kind` as configurations of `spaces` (none where the kind has no portfolio), in order:
    those of a family not searched here, and copies of a family's defaults, left out."""
    path = portfolio_path(kind)
    if not path.is_file():
        return ()
    by_family = {space.family: space for space in spaces}
    configs: list[WarmConfig] = []
    for number, entry in enumerate(entries(path), start=1):
        space = by_family.get(entry["family"])
        if space is None:
            continue
        params, _ = fit_to_space(space, entry["params"], context)
        if is_starting_point(space, params, context) or any(c.matches(space.family, params) for c in configs):
            continue
        configs.append(WarmConfig(space.family, params, f"{PORTFOLIO_MARK}{number}"))
    return tuple(configs)


def invalid(space: SearchSpace, params: Mapping[str, Any]) -> list[str]:
    """What in `params` no data could make a configuration of `space`: a parameter it does not have (a per-layer
    one by its layer's name, `units_0`), or a value outside its range or choices.

    >>> from autosearch.spaces import parse_space
    >>> space = parse_space({"family": "dense", "params": {"layers": {"type": "int", "low": 1, "high": 3},
    ...     "units": {"type": "int", "low": 8, "high": 64, "per_layer": "layers"}}})
    >>> invalid(space, {"layers": 2, "units_0": 16, "units_1": 128, "momentum": 0.9})
    ['units_1 128 is outside the space', 'momentum is not a parameter of dense']
    """
    specs = {spec.name: spec for spec in space.params}
    found = []
    for name, value in params.items():
        base = name.rsplit("_", 1)[0] if name not in specs else name
        spec = specs.get(base)
        if spec is None or (base != name and not spec.per_layer):
            found.append(f"{name} is not a parameter of {space.family}")
        elif spec.type != "fixed" and within(spec, value) is None:
            found.append(f"{name} {value!r} is outside the space")
    return found
