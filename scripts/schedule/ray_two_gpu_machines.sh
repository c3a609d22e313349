#!/usr/bin/env bash
# A Ray cluster on two GPU machines, and one `autosearch fit` whose trials run on both.
#
# On every machine: the same Python environment (same autosearch, Keras and Ray versions), e.g.
#   python3 -m venv .venv && .venv/bin/pip install . "tensorflow[and-cuda]"
# and the data only where the driver runs (Ray ships the prepared arrays to the workers).
#
# 1. On machine A (the head; 10.0.0.5 here), start Ray:
#      .venv/bin/ray start --head --port 6379 --num-gpus "$(nvidia-smi -L | wc -l)" --disable-usage-stats
# 2. On machine B, join it:
#      .venv/bin/ray start --address 10.0.0.5:6379 --num-gpus "$(nvidia-smi -L | wc -l)"
#    (`ray status` on either machine now lists both nodes and all their GPUs.)
# 3. On machine A, run the search: one trial per GPU by default; --gpus-per-trial 0.5 runs two small
#    trials per GPU (memory growth is on, so they share it). The MLflow runs, the study, the leaderboard
#    and the model are written on machine A, whichever node trained a trial (its `autosearch.device` tag
#    says which).
#
# Stop the cluster afterwards with `.venv/bin/ray stop` on each machine.
set -euo pipefail
HEAD=${RAY_HEAD:-10.0.0.5:6379}
exec .venv/bin/autosearch fit "${1:-examples/penguins.csv}" --target "${2:-species}" \
  --engine ray --ray-address "$HEAD" --gpus-per-trial "${GPUS_PER_TRIAL:-1}" \
  --trials 200 --time-budget 2h --output "runs/ray-$(date +%Y%m%d-%H%M)"
