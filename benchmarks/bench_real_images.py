"""Real images nobody here made (issue 24, outcome 7): three sets written out as the files a user
would have, imported with `latentloop data import`, and trained on with few labels.

    .venv/bin/python benchmarks/bench_real_images.py [--steps 1500] [--seeds 0 1 2] \
        [--labels-per-class 5 10] [--sets digits-size digits lfw photos hidden]

- ``digits-size``: the digits' import size, 8 (their own) or 16, chosen on validation: 300 of the
  training images held out (`experiment --validation 300`), 10 labels per class, every seed.
- ``digits``: scikit-learn's bundled handwritten digits (`sklearn.datasets.load_digits`, 1,797
  images 8x8, values 0..16 scaled to 0..255), written as PNGs in `train/<digit>/` and
  `test/<digit>/` (a stratified 25% test split, seed 0), imported at 16x16 (`--size 16`: chosen over
  their own 8x8 on a validation split carved from the training images, the ``digits-size`` set;
  the import at 8x8 is checked to give back the very pixels).
- ``lfw``: scikit-image's bundled LFW subset (`skimage.data.lfw_subset`, 200 images 25x25; by its
  docstring the first 100 are faces, the last 100 not), written as PNGs in `train|test/face/` and
  `train|test/not_face/` (stratified 25% test, seed 0), imported at 24x24 (`--fit crop`, the
  default: a side must be a multiple of 4; the crop loses half a pixel at each edge).
- ``photos``: the colour photo patches of issue 23 (`latentloop data patches`, scikit-image's
  photographs), written as PNGs in `train|test/<photo>/` (their own split, no shared pixels) and
  imported at their own 32x32 (mode auto: RGB).
- ``hidden``: the same digits with their labels hidden (the no-ground-truth path): a flat folder of
  shuffled file names, imported with `--classes zero,...,nine`; a user's labels written with
  `latentloop label import`; `latentloop train`; its accuracy on the held-out user labels next to
  the same checkpoint's accuracy on every unlabelled image against the hidden true classes
  (`latentloop infer`); `latentloop label export`.

Every command is the CLI's, run as a subprocess in a temporary home (the project's data and
artifacts are never touched). Each labelled set trains the default config fitted to the dataset
(`engine.config.fit_to_dataset`: its shape and class count) with `latentloop experiment
--labels-per-class N --seed S` (bench_accuracy.run_one), one run at a time with 1 thread (and
none while /tmp/BENCH_LOCK exists, the lead's timing lock); next to it
the pixel 1-NN of bench_pixel_baseline on the same labels and test split, and chance (1 / classes).

Writes docs/benchmarks/real_images.json. ``--sets`` runs some of the sets and keeps the others'
entries of an existing JSON (each entry says when it was measured).
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_accuracy import run_one, summarise
from benchmarks.bench_pixel_baseline import pixel_1nn
from benchmarks.common import OUT, ROOT, write_result
from engine.datasets import Dataset, load_dataset

SETS = ("digits-size", "digits", "lfw", "photos", "hidden")
SIZE_CHOICES = (8, 16)  # the digits' own 8x8, or upsampled to 16x16 on import
HIDDEN_LABELS_PER_CLASS = 30  # the user's labels on the hidden digits: ~60 held out at one in five
VALIDATION = 300  # training images the digits-size runs hold out and score on
SPLIT_SEED = 0
TEST_FRACTION = 0.25
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGITS_SIZE = 16  # chosen on validation (the digits-size set): 97.7% +- 1.7 against 94.4% +- 1.6 at 8
IMPORT_ARGS = {
    "digits": ["--size", str(DIGITS_SIZE)],
    "lfw": ["--size", "24", "--fit", "crop"],
    "photos": ["--size", "32"],
}
SOURCES = {
    "digits": "scikit-learn's load_digits: 1,797 handwritten digits, 8x8, 10 classes",
    "lfw": "scikit-image's lfw_subset: 200 LFW crops 25x25, 100 faces and 100 not faces",
    "photos": "latentloop data patches photos: 32x32x3 patches of scikit-image's photographs, 11 classes",
}


def cli(home: Path, *argv: str) -> str:
    """`latentloop --home HOME ARGV` in a subprocess; its stdout (stderr in the error)."""
    cmd = [sys.executable, "-m", "latentloop", "--home", str(home), *argv]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc.stdout


def digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-learn's digits as uint8 [1797, 8, 8] (0..16 scaled to 0..255), their classes and names."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return np.round(d.images * (255 / 16)).astype(np.uint8), d.target.astype(np.int64), [str(i) for i in range(10)]


def lfw() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-image's LFW subset as uint8 [200, 25, 25]; the first 100 are faces (its docstring)."""
    import skimage.data

    x = np.round(skimage.data.lfw_subset() * 255).astype(np.uint8)
    return x, np.repeat(np.array([0, 1]), 100), ["face", "not_face"]


def stratified_test(targets: np.ndarray) -> np.ndarray:
    """A boolean mask of the test rows: TEST_FRACTION of every class, fixed seed."""
    from sklearn.model_selection import train_test_split

    _, test = train_test_split(
        np.arange(len(targets)), test_size=TEST_FRACTION, stratify=targets, random_state=SPLIT_SEED
    )
    mask = np.zeros(len(targets), bool)
    mask[test] = True
    return mask


def write_tree(folder: Path, images: np.ndarray, targets: np.ndarray, names: list[str], test: np.ndarray) -> None:
    """The images as PNGs in `folder/train|test/<class name>/<row>.png` (an ImageFolder tree)."""
    for i, (img, y) in enumerate(zip(images, targets, strict=True)):
        d = folder / ("test" if test[i] else "train") / names[y]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"{i:05d}.png")


def originals(home: Path, name: str, folder: Path) -> np.ndarray:
    """The written PNGs in the imported dataset's row order (its sources.csv), as uint8 arrays."""
    with open(home / "data" / name / "sources.csv", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["Serial"]))
    return np.stack([np.asarray(Image.open(folder / r["path"])) for r in rows])


def import_set(home: Path, name: str, folder: Path, native: bool) -> tuple[Dataset, dict[str, Any]]:
    """`latentloop data import NAME FOLDER` with the set's options; the dataset and what to record."""
    t0 = time.perf_counter()
    report = cli(home, "data", "import", name, str(folder), *IMPORT_ARGS[name], "--no-progress")
    wall = time.perf_counter() - t0
    ds = load_dataset(name, home / "data")
    info: dict[str, Any] = {
        "import": f"latentloop data import {name} DIR {' '.join(IMPORT_ARGS[name])}",
        "import_report": report.strip().splitlines()[:2],
        "import_s": round(wall, 2),
        "image_shape": list(ds.image_shape),
        "n_train": ds.n_train,
        "n_test": ds.n_test,
        "classes": json.loads((home / "data" / name / "classes.json").read_text())["classes"],
    }
    if native:  # PNG is lossless and nothing is resized: the import must give back the very pixels
        info["pixels_identical"] = bool(
            np.array_equal(originals(home, name, folder).reshape(ds.images.shape), ds.images)
        )
    return ds, info


def accuracy_arms(home: Path, ds: Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """Per labels-per-class: the SSVAE's test accuracy over the seeds (one experiment each) and the
    pixel 1-NN's on the same labels."""
    out: dict[str, Any] = {}
    config = ROOT / "configs" / "default.yaml"
    for k in args.labels_per_class:
        ns = argparse.Namespace(threads=1, labels_per_class=k, steps=args.steps, validation=0)
        runs = []
        for seed in args.seeds:  # one at a time: the machine has 2 cores
            wait_for_lock()
            m = run_one(home, config, "torch", seed, ns, dataset=ds.name)
            print(f"{ds.name} {k}/class seed {seed}: test accuracy {m['test_acc']:.4f} ({m['wall_s']} s)", flush=True)
            runs.append(m)
        out[str(k)] = {
            "labels": runs[0]["labels"],
            "ssvae_test_acc": summarise([r["test_acc"] for r in runs]),
            "pixel_1nn_test_acc": summarise(pixel_1nn(ds, k, args.seeds)),
            "steps": runs[0]["step"],
            "wall_s": [r["wall_s"] for r in runs],
        }
    return out


def wait_for_lock() -> None:
    """The lead times benchmarks while /tmp/BENCH_LOCK exists: no training meanwhile."""
    while Path("/tmp/BENCH_LOCK").exists():
        time.sleep(30)


def labelled_set(home: Path, tmp: Path, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Write the set as files, import them, train on them: the set's JSON entry."""
    folder = tmp / f"{name}-files"
    if name == "photos":
        cli(home, "data", "patches", "photos-source")
        src = load_dataset("photos-source", home / "data")
        from engine.datasets.photos import PHOTOS

        write_tree(folder, src.images, src.targets, list(PHOTOS), np.arange(len(src)) >= src.n_train)
        native = True
    else:
        images, targets, names = digits() if name == "digits" else lfw()
        write_tree(folder, images, targets, names, stratified_test(targets))
        native = False
    ds, info = import_set(home, name, folder, native)
    if name == "digits":  # imported at their own 8x8 too, only to check that the pixels come back unchanged
        cli(home, "data", "import", "digits8", str(folder), "--size", "8", "--no-progress")
        ds8 = load_dataset("digits8", home / "data")
        info["pixels_identical_at_8"] = bool(
            np.array_equal(originals(home, "digits8", folder).reshape(ds8.images.shape), ds8.images)
        )
    return {
        "source": SOURCES[name],
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **info,
        "chance": round(1 / ds.num_classes, 4),
        "by_labels_per_class": accuracy_arms(home, ds, args),
    }


def digits_size(home: Path, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The digits' import size chosen on a validation split carved from their training images (the
    test split is not looked at): validation accuracy at 10 labels per class for each size."""
    images, targets, names = digits()
    folder = tmp / "digits-size-files"
    write_tree(folder, images, targets, names, stratified_test(targets))
    config = ROOT / "configs" / "default.yaml"
    ns = argparse.Namespace(threads=1, labels_per_class=10, steps=args.steps, validation=VALIDATION)
    arms: dict[str, Any] = {}
    for size in SIZE_CHOICES:
        name = f"digits{size}"
        cli(home, "data", "import", name, str(folder), "--size", str(size), "--no-progress")
        runs = []
        for seed in args.seeds:
            wait_for_lock()
            runs.append(run_one(home, config, "torch", seed, ns, dataset=name))
            print(f"{name} seed {seed}: validation accuracy {runs[-1]['test_acc']:.4f}", flush=True)
        arms[str(size)] = {"val_acc": summarise([r["test_acc"] for r in runs]), "wall_s": [r["wall_s"] for r in runs]}
    return {
        "what": f"digits imported at each --size, {VALIDATION} of the training images held out as the validation "
        "split (experiment --validation), 10 labels per class; validation accuracy",
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "by_size": arms,
    }


def user_labels(truth: np.ndarray, per_class: int, seed: int) -> dict[int, int]:
    """The labels a user would give: ``per_class`` images of each class picked at random (the hidden
    truth says which label each gets; the dataset itself never sees it)."""
    rng = np.random.default_rng(seed)
    return {
        int(s): c
        for c in range(int(truth.max()) + 1)
        for s in rng.choice(np.flatnonzero(truth == c), per_class, replace=False)
    }


def hidden_run(
    home: Path, folder: Path, truth_by_path: dict[str, int], seed: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One pass of the no-ground-truth path on a dataset of its own: import, label, train, score, export."""
    from engine.reports.accuracy import wilson_interval
    from engine.stores.holdout import held_out, read_fraction

    name = f"digits-hidden-s{seed}"
    data_dir = home / "data" / name
    cli(
        home,
        "data",
        "import",
        name,
        str(folder),
        "--size",
        str(DIGITS_SIZE),
        "--classes",
        ",".join(DIGIT_NAMES),
        "--no-progress",
    )
    with open(data_dir / "sources.csv", newline="") as f:
        paths = {int(r["Serial"]): r["path"] for r in csv.DictReader(f)}
    truth = np.array([truth_by_path[paths[s]] for s in range(len(paths))])
    ds = load_dataset(name, home / "data")
    assert not ds.has_ground_truth and ds.n_test == 0, "the flat import must know no class"
    labels = user_labels(truth, HIDDEN_LABELS_PER_CLASS, seed)
    user_csv = home / f"{name}-labels.csv"
    user_csv.write_text("Serial,label\n" + "".join(f"{s},{y}\n" for s, y in sorted(labels.items())))
    cli(home, "label", "import", str(user_csv), "--dataset", name)
    config = home / "hidden.yaml"
    config.write_text("threads: 1\n")
    wait_for_lock()
    t0 = time.perf_counter()
    trained = cli(home, "train", "-c", str(config), "--dataset", name, "--seed", str(seed), "--steps", str(args.steps),
                  "--checkpoint", name, "--no-progress")  # fmt: skip
    wall = time.perf_counter() - t0
    predictions = home / f"{name}-predictions.csv"
    cli(home, "infer", "--dataset", name, "--checkpoint", name, "-o", str(predictions))
    with open(predictions, newline="") as f:
        predicted = np.array([int(r["predicted"]) for r in sorted(csv.DictReader(f), key=lambda r: int(r["serial"]))])
    serials = np.array(sorted(labels))
    fraction = read_fraction(data_dir)
    held = serials[held_out(serials, fraction)]
    correct = int(sum(predicted[s] == labels[int(s)] for s in held))
    lo, hi = wilson_interval(correct, len(held))
    unlabelled = np.setdiff1d(np.arange(len(truth)), serials)
    truth_acc = float((predicted[unlabelled] == truth[unlabelled]).mean())
    exported = home / f"{name}-export.csv"
    cli(home, "label", "export", "--dataset", name, "-o", str(exported))
    with open(exported, newline="") as f:
        rows = list(csv.DictReader(f))
    export_right = len(rows) == len(labels) and all(
        r["label"] == DIGIT_NAMES[labels[int(r["serial"])]] and Path(r["path"]).name == paths[int(r["serial"])]
        for r in rows
    )
    line = next(x for x in trained.splitlines() if "held-out labels" in x and "checkpoint" in x)
    print(f"{name}: {line.split(' with ')[0]}; true classes of the {len(unlabelled)} unlabelled images "
          f"{truth_acc:.4f}", flush=True)  # fmt: skip
    return {
        "train_says": line.split("; checkpoint")[0],
        "held_out_fraction": fraction,
        "labels": len(labels),
        "held_out": len(held),
        "held_out_acc": round(correct / len(held), 4),
        "held_out_interval_95": [round(lo, 4), round(hi, 4)],
        "unlabelled_true_acc": round(truth_acc, 4),
        "unlabelled": len(unlabelled),
        "true_inside_interval": bool(lo <= truth_acc <= hi),
        "export_rows": len(rows),
        "export_matches_labels": export_right,
        "wall_s": round(wall, 1),
    }


def hidden_path(home: Path, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The digits with their labels hidden, end to end, once per seed (each seed a user's own labels)."""
    images, targets, _ = digits()
    folder = tmp / "digits-hidden-files"
    folder.mkdir()
    truth_by_path = {}
    for j, i in enumerate(np.random.default_rng(SPLIT_SEED).permutation(len(images))):
        path = f"scan_{j:04d}.png"  # shuffled names: nothing on disk says the class
        Image.fromarray(images[i]).save(folder / path)
        truth_by_path[path] = int(targets[i])
    runs = [hidden_run(home, folder, truth_by_path, seed, args) for seed in args.seeds]
    return {
        "what": f"{len(images)} digits in one flat folder imported with --classes {','.join(DIGIT_NAMES)} (no "
        f"class known, no test split); {HIDDEN_LABELS_PER_CLASS} user labels per class written with `latentloop "
        "label import`, of which the held-out fraction (engine/stores/holdout.py) is never trained on; "
        "`latentloop train`; accuracy on the held-out labels (95% Wilson interval) next to the same "
        "checkpoint's accuracy on every unlabelled image against the hidden true classes (`latentloop infer`); "
        "`latentloop label export` checked row by row against the labels given",
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "held_out_acc": summarise([r["held_out_acc"] for r in runs]),
        "unlabelled_true_acc": summarise([r["unlabelled_true_acc"] for r in runs]),
        "runs": {str(seed): r for seed, r in zip(args.seeds, runs, strict=True)},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500, help="training steps of every run (default 1500)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--labels-per-class", type=int, nargs="+", default=[5, 10])
    ap.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    args = ap.parse_args()
    path = OUT / "real_images.json"
    sets: dict[str, Any] = json.loads(path.read_text()).get("sets", {}) if path.exists() else {}
    command = f"python benchmarks/bench_real_images.py {shlex.join(sys.argv[1:])}".strip()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        home.mkdir()
        for name in args.sets:
            if name == "hidden":
                entry = hidden_path(home, tmp, args)
            elif name == "digits-size":
                entry = digits_size(home, tmp, args)
            else:
                entry = labelled_set(home, tmp, name, args)
            sets[name] = {**entry, "steps": args.steps, "command": command}
            save(sets)  # after every set: a long run that stops keeps what it finished
    return 0


def save(sets: dict[str, Any]) -> None:
    """docs/benchmarks/real_images.json with every set measured so far (each names its command)."""
    write_result("real_images", {
        "what": "real image sets written as files and imported with `latentloop data import`; test accuracy of "
                "the default config fitted to each (torch, 1 thread) with N oracle labels per class, mean and "
                "sd over the seeds, next to a 1-NN on the raw pixels with the same labels, and chance (1 / "
                "classes); the digits with their labels hidden, scored on held-out user labels",
        "command": "python benchmarks/bench_real_images.py",
        "sets": sets,
    })  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
