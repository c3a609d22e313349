"""A short image search and a short series search on data the repo ships, timed on whatever device Keras sees.

    KERAS_BACKEND=jax python scripts/gpu_check.py [--mixed-precision] [--epochs 10]

Runs `autosearch fit --trials 2 --holdout` with the resnet2d and conv2d families on scikit-learn's 8x8
digits and with the fcn and inception families on BasicMotions (tests/data), and prints, per trial, the
seconds per epoch and training samples per second; while the trials run it samples `nvidia-smi` every
half second, then prints the device and the GPU's mean and peak utilisation and memory (n/a without one).
The backend defaults to JAX (the GPU machines' images have JAX and PyTorch, not TensorFlow). Seconds per
epoch include the first epoch's compilation (on a 2-core CPU with JAX, 3 epochs of resnet2d on digits:
20 s an epoch), so give it enough epochs to see the throughput.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class GpuSampler:
    """`nvidia-smi`'s utilisation (%) and memory (MiB) of GPU 0, sampled on a thread."""

    def __init__(self, every: float = 0.5):
        self.every, self.samples, self._done = every, [], threading.Event()
        self.tool = shutil.which("nvidia-smi")

    def __enter__(self):
        if self.tool:
            threading.Thread(target=self._run, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._done.set()

    def _run(self):
        while not self._done.wait(self.every):
            out = subprocess.run([self.tool, "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                                  "-i", "0"], capture_output=True, text=True).stdout.strip()
            try:
                self.samples.append(tuple(float(v) for v in out.split(",")))
            except ValueError:
                pass

    def summary(self) -> str:
        if not self.samples:
            return "GPU utilisation: n/a (no nvidia-smi)" if not self.tool else "GPU utilisation: no samples"
        use, memory = np.array(self.samples).T
        return (f"GPU utilisation: mean {use.mean():.0f} %, peak {use.max():.0f} %; "
                f"memory peak {memory.max():.0f} MiB ({len(self.samples)} samples)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--mixed-precision", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "jax")
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from sklearn.datasets import load_digits

    import autosearch
    from autosearch.models import device_name, load_keras
    from autosearch.spaces import default_space_path

    keras = load_keras()
    digits = load_digits()
    np.savez(work / "digits.npz", X=digits.images.astype(np.float32), y=digits.target)
    searches = {"digits": (work / "digits.npz", ("resnet2d", "conv2d")),
                "basic_motions": (ROOT / "tests" / "data" / "basic_motions.npz", ("fcn", "inception"))}
    print(f"backend {keras.backend.backend()}, Keras {keras.__version__}")
    print("| data | trial | epochs | s/epoch | samples/s |")
    print("|---|---|---|---|---|")
    with GpuSampler() as gpu:
        for name, (path, families) in searches.items():
            result = autosearch.fit(path, space=[default_space_path(f) for f in families], trials=2, holdout=True,
                                    max_epochs=args.epochs, mixed_precision=args.mixed_precision, seed=0,
                                    quiet=True, output=work / name)
            rows = result.summary.rows["train"]
            nets = result.leaderboard[result.leaderboard.kind == "nn"]
            for trial in nets.itertuples():
                per_epoch = trial.fit_seconds / max(trial.epochs, 1)
                print(f"| {name} | {trial.name} | {int(trial.epochs)} | {per_epoch:.3f} | "
                      f"{rows / per_epoch:.0f} |", flush=True)
    print(f"device: {device_name()}; {gpu.summary()}")


if __name__ == "__main__":
    main()
