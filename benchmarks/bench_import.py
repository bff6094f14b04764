"""Import speed (issue 24): `latentloop data import` against the plain loop a user would write,
on generated 256x256 RGB JPEGs imported into 64x64 RGB, alternated in one run.

    .venv/bin/python benchmarks/bench_import.py [--count 20000 --rounds 2 --work DIR]

The JPEGs (class folders ``c0``..``c9``; smooth colour fields, filled shapes and noise, different
in every file and the same for a seed) are made once into ``--work`` (default: a folder under the
system temp dir) and reused while complete. Every file is read once before timing, so both arms
find them in the page cache.

Each round runs the two arms in turn (importer, plain: ABAB), each in a fresh process:

- **importer**: ``latentloop data import bench SRC --size 64 --mode rgb --no-progress`` (the
  CLI's ``main``, every core) into a throwaway data root;
- **plain**: one process, ``Image.open(p).convert("RGB").resize((64, 64))`` into a preallocated
  numpy array, then ``np.save``.

The time is the arm's own call (the CLI's ``main``, the loop and its save), not the Python start;
``cpu_s`` is the CPU time of that call in all the arm's processes (user + system), a check on a
machine that other work shares.
Peak memory: ``tree_peak_rss_mb`` is the peak of the summed RSS of the arm's process and all its
descendants (the import's process pool), sampled from /proc every 20 ms by this process (shared
pages count once per process, so it over-counts a little); ``maxrss_self_mb`` and
``maxrss_children_mb`` are the arm's ``getrusage`` high-water marks (RUSAGE_CHILDREN: the largest
single pool worker). The ratio importer/plain (images/s) is per round, then the median; so is
``cpu_ratio``, the plain loop's CPU time over the importer's. The first round also
compares the two arms' pixels (mean absolute difference, 0-255). Writes docs/benchmarks/import.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.common import write_result

CLASSES = 10
GENERATOR = 1  # bump when the images change, so a cached set is made again


def _jpeg(seed: int, i: int, side: int) -> bytes:
    """One varied colour JPEG: a smooth random colour field, 3-8 filled shapes, mild noise."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([seed, i])
    im = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((side, side), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(3, 9))):
        x, y = (int(v) for v in rng.integers(-side // 6, side, 2))
        w, h = (int(v) for v in rng.integers(side // 12, side // 2, 2))
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x, y, x + w, y + h), fill=fill)
    noisy = np.asarray(im, np.int16) + rng.normal(0, 6, (side, side, 3)).astype(np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _write_range(folder: str, seed: int, side: int, start: int, stop: int) -> None:
    for i in range(start, stop):
        (Path(folder) / f"c{i % CLASSES}" / f"{i:06d}.jpg").write_bytes(_jpeg(seed, i, side))


def images(work: Path, count: int, seed: int, side: int) -> Path:
    """The folder of ``count`` JPEGs under ``work``, made (in parallel) unless complete already."""
    folder = work / f"jpeg-{side}px-n{count}-seed{seed}"
    marker = folder / "complete.json"
    want = {"count": count, "seed": seed, "side": side, "generator": GENERATOR}
    if marker.is_file() and json.loads(marker.read_text()) == want:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for c in range(CLASSES):
        (folder / f"c{c}").mkdir(parents=True)
    t0 = time.perf_counter()
    step = 500
    with multiprocessing.get_context("spawn").Pool() as pool:
        pool.starmap(_write_range, [(str(folder), seed, side, a, min(count, a + step)) for a in range(0, count, step)])
    marker.write_text(json.dumps(want))
    print(f"made {count} JPEGs in {folder} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return folder


def _files(src: Path) -> list[Path]:
    return sorted(src.glob("*/*.jpg"))


def run_arm(arm: str, src: Path, out: Path, size: int, workers: int) -> dict[str, Any]:
    """One arm in this process (the child side of :func:`measure`)."""

    def cpu() -> float:
        return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                   for f in ("ru_utime", "ru_stime"))  # fmt: skip

    cpu0 = cpu()
    if arm == "importer":
        from latentloop.cli import main

        os.environ["LATENTLOOP_HOME"] = str(out)
        argv = ["data", "import", "bench", str(src), "--size", str(size), "--mode", "rgb", "--no-progress"]
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = main([*argv, "--workers", str(workers)])
        seconds = time.perf_counter() - t0
        if code != 0:
            raise SystemExit(f"latentloop {' '.join(argv)} exited {code}")
    else:
        from PIL import Image

        t0 = time.perf_counter()
        paths = _files(src)
        arr = np.empty((len(paths), size, size, 3), np.uint8)
        for i, p in enumerate(paths):
            arr[i] = np.asarray(Image.open(p).convert("RGB").resize((size, size)))
        np.save(out / "images.npy", arr)
        seconds = time.perf_counter() - t0
    kb = 1024  # ru_maxrss is in KiB on Linux
    return {
        "seconds": seconds,
        "cpu_s": cpu() - cpu0,
        "maxrss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kb / 2**20,
        "maxrss_children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * kb / 2**20,
    }


def _tree_rss(pid: int) -> int:
    """Summed RSS in bytes of ``pid`` and its descendants (0 once it is gone)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return total


def measure(arm: str, src: Path, size: int, workers: int) -> tuple[dict[str, Any], Path]:
    """Run ``arm`` in a fresh process, sampling its process tree's RSS; (its numbers, its output folder)."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-import-{arm}-"))
    cmd = [sys.executable, __file__, "--arm", arm, "--src", str(src), "--out", str(out)]
    proc = subprocess.Popen([*cmd, "--size", str(size), "--workers", str(workers)])
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    sampler.join()
    if code != 0:
        raise SystemExit(f"the {arm} arm failed (exit {code})")
    got = json.loads((out / "result.json").read_text())
    got["tree_peak_rss_mb"] = peak[0] / 2**20
    return got, out


def _pixels(arm: str, out: Path) -> np.ndarray:
    if arm == "plain":
        return np.load(out / "images.npy")
    with np.load(out / "data" / "bench" / "bench.npz") as z:
        return z["images"]


def _versions() -> dict[str, Any]:
    import PIL
    from PIL import features

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "libjpeg_turbo": features.version("libjpeg_turbo"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20_000, help="JPEGs to import (default 20000)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of both arms (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--source-side", type=int, default=256, help="side of the generated JPEGs (default 256)")
    ap.add_argument("--size", type=int, default=64, help="side of the imported images (default 64)")
    ap.add_argument("--workers", type=int, default=0, help="the import's --workers (default 0: every core)")
    ap.add_argument("--work", type=Path, help="folder for the generated JPEGs (default: under the temp dir)")
    ap.add_argument("--name", default="import", help="docs/benchmarks/<name>.json (default import)")
    ap.add_argument("--arm", choices=["importer", "plain"], help=argparse.SUPPRESS)  # the child side
    ap.add_argument("--src", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.arm:
        got = run_arm(args.arm, args.src, args.out, args.size, args.workers)
        (args.out / "result.json").write_text(json.dumps(got))
        return
    work = args.work or Path(tempfile.gettempdir()) / "latentloop-bench-import"
    src = images(work, args.count, args.seed, args.source_side)
    files = _files(src)
    source_mb = sum(p.stat().st_size for p in files) / 2**20
    for p in files:  # into the page cache: neither arm pays for the disk
        p.read_bytes()
    rounds: list[dict[str, Any]] = []
    diff = None
    for r in range(args.rounds):
        row: dict[str, Any] = {}
        outs = {}
        for arm in ("importer", "plain"):
            got, outs[arm] = measure(arm, src, args.size, args.workers)
            got["images_per_s"] = args.count / got["seconds"]
            got["cpu_ms_per_image"] = 1000 * got["cpu_s"] / args.count
            row[arm] = {k: round(v, 1 if k.endswith("_mb") else 3) for k, v in got.items()}
            rate, mb = got["images_per_s"], got["tree_peak_rss_mb"]
            print(f"round {r + 1} {arm}: {rate:.0f} images/s, {got['cpu_s']:.1f} CPU s, {mb:.0f} MB", flush=True)
        row["ratio"] = round(row["importer"]["images_per_s"] / row["plain"]["images_per_s"], 3)
        row["cpu_ratio"] = round(row["plain"]["cpu_s"] / row["importer"]["cpu_s"], 3)
        if diff is None:
            a, b = (_pixels(arm, outs[arm]) for arm in ("importer", "plain"))
            if a.shape != b.shape:
                raise SystemExit(f"the arms disagree on the images: {a.shape} vs {b.shape}")
            diff = float(np.abs(a.astype(np.int16) - b).mean())
        for o in outs.values():
            shutil.rmtree(o, ignore_errors=True)
        rounds.append(row)
    med = {arm: statistics.median(r[arm]["images_per_s"] for r in rounds) for arm in ("importer", "plain")}
    peak = {arm: max(r[arm]["tree_peak_rss_mb"] for r in rounds) for arm in ("importer", "plain")}
    write_result(
        args.name,
        {
            "what": "images/s of `latentloop data import` vs a plain one-process Pillow loop, "
            f"{args.count} generated {args.source_side}x{args.source_side} RGB JPEGs into {args.size}x{args.size} RGB",
            "command": f"python benchmarks/bench_import.py --count {args.count} --rounds {args.rounds}"
            + (f" --workers {args.workers}" if args.workers else ""),
            "cores_usable": len(os.sched_getaffinity(0)),
            "versions": _versions(),
            "count": args.count,
            "settings": {
                "source_side": args.source_side,
                "size": args.size,
                "mode": "rgb",
                "fit": "crop",
                "import_workers": args.workers or "every core",
                "jpeg_quality": 90,
                "seed": args.seed,
                "source_mb": round(source_mb, 1),
            },
            "memory": "tree_peak_rss_mb: peak summed RSS of the arm's process tree (pool included), sampled from "
            "/proc every 20 ms; maxrss_*: the arm's getrusage (children: the largest pool worker)",
            "rounds": rounds,
            "median_images_per_s": {k: round(v, 1) for k, v in med.items()},
            "median_ratio": round(statistics.median(r["ratio"] for r in rounds), 3),
            "median_cpu_ratio": round(statistics.median(r["cpu_ratio"] for r in rounds), 3),
            "peak_tree_rss_mb": {k: round(v, 1) for k, v in peak.items()},
            "mean_abs_pixel_diff_vs_plain": round(diff or 0.0, 3),
            "goal": "median_ratio >= 1.8 (issue 24)",
        },
    )


if __name__ == "__main__":
    main()
