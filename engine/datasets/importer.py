"""``latentloop data import``: a folder or manifest of the user's own images into a dataset.

The pipeline (docs/datasets.md, "Your own images"; the files in docs/formats.md):

1. :mod:`engine.datasets.sources` lists the files, their classes and splits;
2. the files are hashed and decoded in parallel (:func:`engine.datasets.imagefile.decode_file`
   in a process pool, a few bounded batches ahead at a time: :func:`_decoded`) into a staging
   memory-mapped array, so only those batches are ever in memory; a file whose sha256 was seen
   before is a duplicate;
3. the dataset (``.npz``, or the memory-mapped layout above :data:`NPY_ABOVE` images), its
   ``sources.csv``, ``classes.json`` and ``import.json`` are written into a hidden staging folder
   ``data/.import-<name>-<pid>/`` and moved into place at the end, the dataset file last: an
   interrupted import leaves no dataset (and removes its staging folder).

``--append`` re-reads the same source: files already imported are only hashed (a changed or
vanished file is reported and its row kept as it was), new files get new Serials after the
existing training rows (test rows, which carry no labels, move up by the number of new training
rows), and the settings of the first import are reused.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import paths
from engine.datasets.attributes import images_sha256
from engine.datasets.classes import CLASSES_FILE, check_class_names, read_class_names, write_class_names
from engine.datasets.imagefile import Fit, decode_file, decode_files
from engine.datasets.memmap import META_FILE, write_memmap_dataset
from engine.datasets.provenance import (
    IMPORT_FILE,
    SOURCES_FILE,
    Source,
    format_sources,
    read_import_settings,
    read_sources,
    write_import_settings,
)
from engine.datasets.sources import Entry, Scan, Skip, scan_source
from engine.datasets.store import UNKNOWN, Dataset, dataset_file, dataset_path, load_dataset, save_dataset
from engine.errors import DatasetError
from engine.io import atomic_write_bytes, fsync_dir

NPY_ABOVE = 100_000  # more images than this: the memory-mapped layout (as `data synth`)
DEFAULT_SIDE = 64
CHUNK = 4096  # rows per chunk when the memory-mapped layout is written
BATCH = 32  # files per task of a decoding process: pickling and queueing paid once per batch
IN_FLIGHT = 2  # batches per decoding process submitted ahead of the one being consumed


@dataclass
class ImportOptions:
    """The settings of one import (the command's options)."""

    height: int | None = None  # None: DEFAULT_SIDE, or the first import's on --append
    width: int | None = None
    mode: str | None = None  # gray | rgb | auto (default auto)
    fit: Fit | None = None  # crop | pad | stretch (default crop)
    classes: list[str] | None = None
    no_classes: bool = False
    strict: bool = False
    append: bool = False
    force: bool = False
    workers: int = 0  # 0: every core
    layout: str = "auto"  # auto | npz | npy
    progress: Callable[[int, int], None] | None = None  # (files done, files in all), after each file


@dataclass
class ImportReport:
    """What an import did: the counts, the classes and every file left out, and why."""

    name: str
    kind: str
    source: str
    added: int = 0
    total: int = 0
    n_train: int = 0
    classes: list[str] = field(default_factory=list)
    added_per_class: list[int] = field(default_factory=list)
    added_unlabelled: int = 0
    skipped: list[Skip] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (file, the file it repeats)
    changed: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    shape: tuple[int, ...] = ()
    fit: str = ""
    layout: str = ""
    path: str = ""


def _workers(n: int) -> int:
    return n if n > 0 else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _decoded(
    tasks: list[tuple[str, bool]], h: int, w: int, mode: str, fit: Fit, workers: int, tick: Callable[[int], None]
) -> Iterator[tuple[str, np.ndarray | None, bool, str]]:
    """decode_file over ``tasks`` (path, decode?) in order. A pool of ``workers`` processes takes
    them in batches (:func:`decode_files`, at most :data:`BATCH` files) and at most
    ``IN_FLIGHT * workers`` batches are submitted and not yet consumed, so neither originals nor
    results pile up in memory, and no worker waits on a slower one at a batch boundary."""
    if workers <= 1 or len(tasks) < 2 * workers:
        for path, dec in tasks:
            yield decode_file(path, h, w, mode, fit, dec)
            tick(1)
        return
    size = max(1, min(BATCH, -(-len(tasks) // (4 * workers))))  # a small source still spreads over every worker
    starts = iter(range(0, len(tasks), size))
    # spawn, as the project's other child processes: a fork of a process with threads (the app's,
    # or one that has loaded JAX) can deadlock
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:

        def submit(i: int) -> Future[list[tuple[str, np.ndarray | None, bool, str]]]:
            return pool.submit(decode_files, tasks[i : i + size], h, w, mode, fit)

        pending = deque(submit(i) for i in itertools.islice(starts, IN_FLIGHT * workers))
        while pending:
            done = pending.popleft().result()
            pending.extend(submit(i) for i in itertools.islice(starts, 1))
            yield from done
            tick(len(done))


def _clean_stale(base: Path, name: str) -> None:
    """Remove staging folders of earlier imports of ``name`` whose process is gone (killed)."""
    for d in base.glob(f".import-{name}-*"):
        try:
            os.kill(int(d.name.rsplit("-", 1)[1]), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


def _settings(
    name: str, source: Path, opts: ImportOptions, root: str | Path | None
) -> tuple[dict[str, Any], list[str] | None]:
    """(the import settings, the classes fixed beforehand) for a new import or an --append."""
    exists = dataset_path(name, root).exists() or (paths.data_dir(name, root) / META_FILE).exists()
    if opts.append:
        if not exists:
            raise DatasetError(f"dataset {name!r} does not exist: nothing to --append to (import it first)")
        old = read_import_settings(name, root)
        if old is None:
            raise DatasetError(f"dataset {name!r} was not made by `data import`: --append cannot add to it")
        if Path(old["source"]) != source:
            raise DatasetError(f"dataset {name!r} was imported from {old['source']}; --append re-reads that source")
        given = {"height": opts.height, "width": opts.width, "fit": opts.fit}
        clash = [k for k, v in given.items() if v is not None and v != old[k]]
        if opts.mode not in (None, "auto", old["mode"]):
            clash.append("mode")
        if clash:
            raise DatasetError(f"--append keeps the first import's settings: {', '.join(clash)} differ(s) from them")
        ds = load_dataset(name, root)
        return old, read_class_names(name, ds.num_classes, root)
    if exists and not opts.force:
        raise DatasetError(
            f"dataset {name!r} already exists ({dataset_file(name, root)}): pass --append to add new files "
            "or --force to replace it"
        )
    side = DEFAULT_SIDE
    settings = {
        "version": 1,
        "source": str(source),
        "height": opts.height or side,
        "width": opts.width or opts.height or side,
        "mode": opts.mode or "auto",
        "fit": opts.fit or "crop",
    }
    return settings, (check_class_names(opts.classes, "--classes") if opts.classes else None)


def import_images(name: str, source: str | Path, opts: ImportOptions, root: str | Path | None = None) -> ImportReport:
    """Import ``source`` into dataset ``name``; DatasetError when nothing importable remains, or
    on the first bad file with ``strict``. See the module docstring."""
    src = Path(os.path.abspath(source))
    settings, classes = _settings(name, src, opts, root)
    scan = scan_source(src, classes, opts.no_classes)
    if opts.strict and scan.skipped:
        raise DatasetError(f"{src}: {scan.skipped[0].rel}: {scan.skipped[0].reason} (--strict)")
    if len(scan.classes) < 2:
        why = "has no class subfolders" if scan.kind == "flat" else f"names {len(scan.classes)} class(es)"
        raise DatasetError(
            f"{src} {why}: a dataset needs at least 2 classes; name them with --classes a,b,c "
            "(images without a class are imported unlabelled)"
        )
    base = paths.data_dir(name, root).parent
    base.mkdir(parents=True, exist_ok=True)
    _clean_stale(base, name)
    staging = base / f".import-{name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        return _Import(name, src, opts, settings, scan, staging, root).run()
    except BaseException:  # Ctrl+C included: no half-written dataset, no staging folder left
        shutil.rmtree(staging, ignore_errors=True)
        raise


@dataclass
class _Import:
    """One import's state between decoding and writing (see :func:`import_images`)."""

    name: str
    src: Path
    opts: ImportOptions
    settings: dict[str, Any]
    scan: Scan
    staging: Path
    root: str | Path | None
    rows: list[tuple[Entry, str]] = field(default_factory=list)  # (entry, sha256) of each new row

    def run(self) -> ImportReport:
        scan, opts, settings = self.scan, self.opts, self.settings
        report = ImportReport(self.name, scan.kind, str(self.src), classes=scan.classes)
        report.skipped = list(scan.skipped)
        old_rows = read_sources(paths.data_dir(self.name, self.root) / SOURCES_FILE) if opts.append else []
        known = {r.path: r for r in old_rows}
        seen = {r.sha256: r.path for r in old_rows}
        listed = {e.rel for e in scan.entries}
        report.vanished = [r.path for r in old_rows if r.path not in listed]
        n_new = sum(e.rel not in known for e in scan.entries)
        tasks = [(e.path, e.rel not in known) for e in scan.entries]
        h, w, fit = int(settings["height"]), int(settings["width"]), settings["fit"]
        decode_mode = "gray" if settings["mode"] == "gray" else "rgb"
        shape = (h, w) if decode_mode == "gray" else (h, w, 3)
        buf = np.lib.format.open_memmap(
            self.staging / "decoded.npy", mode="w+", dtype=np.uint8, shape=(max(n_new, 1), *shape)
        )
        colour = False
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            if opts.progress is not None:
                opts.progress(done[0], len(tasks))

        tick(0)
        results = _decoded(tasks, h, w, decode_mode, fit, _workers(opts.workers), tick)
        for entry, (sha, pixels, has_colour, error) in zip(scan.entries, results, strict=True):
            old = known.get(entry.rel)
            if error:
                if opts.strict:
                    raise DatasetError(f"{entry.path}: {error} (--strict)")
                report.skipped.append(Skip(entry.rel, error))
            elif old is not None:
                if sha != old.sha256:
                    report.changed.append(entry.rel)
            elif sha in seen:
                report.duplicates.append((entry.rel, seen[sha]))
            else:
                seen[sha] = entry.rel
                buf[len(self.rows)] = pixels
                self.rows.append((entry, sha))
                colour |= has_colour
        buf.flush()
        if not self.rows:
            if opts.append:  # nothing new: the dataset stays as it is
                shutil.rmtree(self.staging, ignore_errors=True)
                ds = load_dataset(self.name, self.root)
                report.total, report.n_train, report.shape = len(ds), ds.n_train, tuple(ds.images.shape[1:])
                report.fit, report.path = fit, str(dataset_file(self.name, self.root))
                return report
            first = f" (first: {report.skipped[0].rel}: {report.skipped[0].reason})" if report.skipped else ""
            raise DatasetError(f"{self.src}: nothing importable: {len(report.skipped)} file(s) skipped{first}")
        if settings["mode"] == "auto":
            settings["mode"] = "rgb" if colour else "gray"
        index = {c: i for i, c in enumerate(scan.classes)}
        labels = np.array([UNKNOWN if e.label is None else index[e.label] for e, _ in self.rows], np.int64)
        split = np.array([e.split for e, _ in self.rows], np.uint8)
        report.added = len(self.rows)
        report.added_per_class = np.bincount(labels[labels >= 0], minlength=len(scan.classes)).tolist()
        report.added_unlabelled = int(np.count_nonzero(labels < 0))
        old_ds = load_dataset(self.name, self.root) if opts.append else None
        if old_ds is None and not (split == 0).any():
            raise DatasetError(f"{self.src}: every image is in test/: a dataset needs training images to label")
        self._write(report, buf, labels, split, decode_mode == "rgb" and settings["mode"] == "gray", old_ds, known)
        return report

    def _write(
        self,
        report: ImportReport,
        buf: np.ndarray,
        new_labels: np.ndarray,
        new_split: np.ndarray,
        gray_out: bool,
        old_ds: Dataset | None,
        known: dict[str, Source],
    ) -> None:
        """Write the dataset (old rows and new in :func:`_order`), its provenance, classes and
        settings into the staging folder, then move them into place."""
        runs = _order(old_ds, new_split)
        old_by_serial = {r.serial: r for r in known.values()}
        labels_parts: list[np.ndarray] = []
        split_parts: list[np.ndarray] = []
        sources: list[Source] = []
        for where, a, b in runs:
            for i in range(a, b):
                serial = len(sources)
                if where == "old":
                    r = old_by_serial.get(i)
                    sources.append(Source(serial, r.path if r else "", r.sha256 if r else ""))
                else:
                    sources.append(Source(serial, self.rows[i][0].rel, self.rows[i][1]))
            old = where == "old" and old_ds is not None
            labels_parts.append(np.asarray(old_ds.targets[a:b]) if old_ds is not None and old else new_labels[a:b])
            split_parts.append(old_ds.split[a:b] if old_ds is not None and old else new_split[a:b])
        labels, split = np.concatenate(labels_parts), np.concatenate(split_parts)
        n, n_train = len(labels), int(np.count_nonzero(split == 0))
        unknown = bool((labels < 0).any())
        gray = self.settings["mode"] == "gray"
        shape = (int(self.settings["height"]), int(self.settings["width"]), *(() if gray else (3,)))

        def chunks() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
            done = 0
            for where, a, b in runs:
                for i in range(a, b, CHUNK):
                    j = min(b, i + CHUNK)
                    if where == "old" and old_ds is not None:
                        imgs = np.asarray(old_ds.images[i:j])
                    else:
                        imgs = np.asarray(buf[i:j])
                        if gray_out:
                            imgs = imgs[..., 0]  # auto found no colour: R = G = B
                    yield done, imgs, labels[done : done + j - i]
                    done += j - i

        layout = self.opts.layout if self.opts.layout != "auto" else ("npy" if n > NPY_ABOVE else "npz")
        num_classes = len(self.scan.classes)
        if layout == "npy":
            write_memmap_dataset(self.staging, n, shape, num_classes, n_train, chunks(), unknown_targets=unknown)
        else:
            images = buf[:n]  # a first import's rows are already in order: no second copy in memory
            if old_ds is not None or gray_out:
                images = np.empty((n, *shape), np.uint8)
                for start, imgs, _ in chunks():
                    images[start : start + len(imgs)] = imgs
            save_dataset(Dataset(self.name, images, labels, n_train, num_classes, unknown_targets=unknown),
                         self.staging / f"{self.name}.npz")  # fmt: skip
        (self.staging / "decoded.npy").unlink()  # still mapped until the caller lets go: fine on POSIX
        atomic_write_bytes(self.staging / SOURCES_FILE, format_sources(sources))
        write_class_names(self.staging / CLASSES_FILE, self.scan.classes)
        settings = {**self.settings, "kind": self.scan.kind}
        if old_ds is not None:  # checkpoints of the version extended here stay valid (its Serials do)
            settings["appended_from"] = [*self.settings.get("appended_from", []), images_sha256(old_ds.images)]
        write_import_settings(self.staging / IMPORT_FILE, settings)
        _commit(self.staging, paths.data_dir(self.name, self.root), self.name, layout)
        report.total, report.n_train, report.shape, report.fit = n, n_train, shape, self.settings["fit"]
        report.layout, report.path = layout, str(dataset_file(self.name, self.root))


def _order(old_ds: Dataset | None, new_split: np.ndarray) -> list[tuple[str, int, int]]:
    """The new row order as runs (``old`` or ``new``, start, stop): old train, new train, old
    test, new test (``new_split`` is sorted, train first)."""
    n_new_train = int(np.count_nonzero(new_split == 0))
    runs = []
    if old_ds is not None:
        runs.append(("old", 0, old_ds.n_train))
    runs.append(("new", 0, n_new_train))
    if old_ds is not None:
        runs.append(("old", old_ds.n_train, len(old_ds)))
    runs.append(("new", n_new_train, len(new_split)))
    return [r for r in runs if r[2] > r[1]]


def _commit(staging: Path, final: Path, name: str, layout: str) -> None:
    """Move the staged files into ``final``: the whole folder at once when it is new, else file by
    file with the dataset file (``<name>.npz`` or ``dataset.json``) last and the other layout removed."""
    if not final.exists():
        os.rename(staging, final)
        fsync_dir(final.parent)
        return
    (final / META_FILE).unlink(missing_ok=True)  # a half-replaced memory-mapped layout must not load
    last = f"{name}.npz" if layout == "npz" else META_FILE
    if layout == "npy":
        (final / f"{name}.npz").unlink(missing_ok=True)
    else:
        for stale in ("images.npy", "labels.npy", "split.npy"):
            (final / stale).unlink(missing_ok=True)
    for f in sorted(staging.iterdir(), key=lambda p: p.name == last):
        os.replace(f, final / f.name)
    fsync_dir(final)
    shutil.rmtree(staging, ignore_errors=True)
