"""Is MNIST training unchanged by a code change? Fingerprints of a short training run, here and at
another commit, side by side (issue 23: "every existing MNIST file, checkpoint and number keeps
working unchanged").

    .venv/bin/python benchmarks/training_fingerprint.py --against 6a1ded7 [--backend torch jax tensorflow]

For each backend: 120 steps of configs/default.yaml on MNIST with 100 oracle labels (seed 0), the
affine consistency view and one training thread; the fingerprint is the sha256 of the final
weights (every array, sorted by name) and of the test predictions of 1,000 images (rounded to
5 places). The other commit runs in a temporary git worktree, in a subprocess of its own. Equal
fingerprints mean the same weights bit for bit, so every accuracy figure of the default config
stands. Writes docs/benchmarks/training_fingerprint.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fingerprints(backends: list[str], data_root: str) -> dict[str, dict[str, str]]:
    """The fingerprints of this checkout's code (imports from ``sys.path``)."""
    import numpy as np

    from engine.backends.base import Out
    from engine.config import load_config
    from engine.datasets import load_dataset, oracle_labels
    from engine.stores.labels import LabelStore
    from engine.training.trainer import Trainer

    ds = load_dataset("mnist", data_root)
    tmp = Path(tempfile.mkdtemp())
    store = LabelStore(tmp / "labels.csv", ds.n_train, ds.num_classes)
    store.set_many(oracle_labels(ds, 10, 0), source="bench")
    out = {}
    for backend in backends:
        overrides = {"threads": 1, "backend": backend, "train.eval_every": 10**9}
        overrides |= {"train.augment_rotate": 10, "train.augment_scale": 0.1}
        tr = Trainer(load_config(str(ROOT / "configs" / "default.yaml"), overrides), ds, store)
        tr.run(steps=120, evaluate_at_end=False)
        w = tr.backend.get_weights()
        probs = tr.backend.predict(ds.float_images(np.arange(ds.n_train, ds.n_train + 1000)))[Out.PROBS]
        out[backend] = {
            "weights": hashlib.sha256(b"".join(np.ascontiguousarray(w[k]).tobytes() for k in sorted(w))).hexdigest(),
            "predictions": hashlib.sha256(np.round(probs, 5).astype(np.float32).tobytes()).hexdigest(),
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", help="the commit to compare with (run in a temporary worktree)")
    ap.add_argument("--backend", nargs="+", default=["torch", "jax", "tensorflow"])
    ap.add_argument("--data", default=str(ROOT / "data"), help="the data root that holds mnist/")
    ap.add_argument("--print-only", action="store_true", help="print this checkout's fingerprints as JSON")
    args = ap.parse_args()
    if args.print_only:
        print(json.dumps(fingerprints(args.backend, args.data)))
        return 0
    here = fingerprints(args.backend, args.data)
    result: dict[str, object] = {"command": "python benchmarks/training_fingerprint.py " + " ".join(sys.argv[1:])}
    result["here"] = here
    if args.against:
        with tempfile.TemporaryDirectory() as tmp:
            wt = Path(tmp) / "other"
            subprocess.run(["git", "worktree", "add", "--detach", str(wt), args.against], cwd=ROOT, check=True,
                           capture_output=True)  # fmt: skip
            try:
                script = wt / "benchmarks" / "training_fingerprint.py"
                if not script.exists():  # an older commit: this script, copied in, runs on its code
                    shutil.copy(Path(__file__), script)
                env = dict(os.environ, PYTHONPATH=str(wt))
                cmd = [sys.executable, str(script), "--print-only", "--data", args.data, "--backend", *args.backend]
                proc = subprocess.run(cmd, cwd=wt, env=env, check=True, capture_output=True, text=True)
                there = json.loads(proc.stdout.strip().splitlines()[-1])
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(wt)], cwd=ROOT, check=False)
        rev = subprocess.run(
            ["git", "rev-parse", args.against], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        result["against"] = {"commit": rev.strip(), "fingerprints": there}
        result["identical"] = {b: here[b] == there.get(b) for b in args.backend}
    from benchmarks.common import write_result

    write_result("training_fingerprint", result)
    return 0 if all(result.get("identical", {}).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
