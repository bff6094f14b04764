"""Projectors: PCA and UMAP maps that keep their orientation between refreshes."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis.projection import (
    ProjectionError,
    Projector,
    UmapParams,
    UmapProjector,
    align_procrustes,
    normalise_for_plot,
    umap_embed,
)


def _latents(n: int, d: int = 6, seed: int = 0) -> np.ndarray:
    """Anisotropic cloud (distinct variances, so the PCA axes are well defined)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.linspace(3.0, 0.5, d) + 1.5


def _orthogonal(d: int, seed: int, reflect: bool) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    if (np.linalg.det(q) > 0) == reflect:
        q[:, 0] = -q[:, 0]  # flip one axis to get the determinant sign we want
    return q


def test_align_procrustes_recovers_similarity() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 2))
    theta = 0.7
    r = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]]) @ np.diag([1, -1])
    b = 2.5 * a @ r + np.array([3.0, -4.0])
    s, r_hat, t = align_procrustes(a, b)
    assert s == pytest.approx(2.5)
    np.testing.assert_allclose(r_hat, r, atol=1e-12)
    np.testing.assert_allclose(t, [3.0, -4.0], atol=1e-12)


@pytest.mark.parametrize("max_fit_rows", [10_000, 100])  # whole set and subsampled fit
def test_rotated_reflected_shifted_copy_aligns_back(max_fit_rows: int) -> None:
    mu = _latents(800)
    proj = Projector(seed=3, max_fit_rows=max_fit_rows)
    xy1 = proj.fit_transform(mu)
    assert xy1.dtype == np.float32 and xy1.shape == (800, 2)
    q = _orthogonal(mu.shape[1], seed=4, reflect=True)
    xy2 = proj.fit_transform(mu @ q + np.arange(mu.shape[1]) * 7.0)
    np.testing.assert_allclose(xy2, xy1, atol=1e-5)


def test_small_noise_moves_points_only_a_little() -> None:
    mu = _latents(2000)
    proj = Projector()
    xy1 = proj.fit_transform(mu)
    # a refresh after some training: slightly different latents, in a rotated and flipped frame
    # (a naive re-projection could flip the map; the aligned one must not)
    noisy = (mu + 0.02 * np.random.default_rng(9).normal(size=mu.shape)) @ _orthogonal(6, 5, True)
    xy2 = proj.fit_transform(noisy)
    move = np.linalg.norm(xy2 - xy1, axis=1)
    spread = np.linalg.norm(xy1 - xy1.mean(axis=0), axis=1).mean()
    assert move.mean() < 0.02 * spread
    assert move.max() < 0.1 * spread
    # The problem being solved: plain PCA maps X and -X to mirror images, so at least one of
    # them lands far from the previous map unless it is aligned.
    naive = [np.linalg.norm(Projector().fit_transform(m) - xy1, axis=1).mean() for m in (noisy, -noisy)]
    assert max(naive) > 0.5 * spread


def test_alignment_uses_shared_ids_only() -> None:
    mu = _latents(1000)
    proj = Projector()
    xy1 = proj.fit_transform(mu)
    # next refresh covers a shuffled subset plus new samples, in a reflected frame
    ids = np.random.default_rng(2).permutation(np.arange(300, 1300))
    extra = _latents(300, seed=7)
    full = np.concatenate([mu, extra])  # rows 1000..1299 are new samples
    q = _orthogonal(6, 8, True)
    xy2 = proj.fit_transform(full[ids] @ q, ids=ids)
    shared = ids < 1000
    # the shared rows come out where they were, up to the small change of PCA basis the extra
    # samples cause; without alignment by id they would be wildly off
    err = np.linalg.norm(xy2[shared] - xy1[ids[shared]], axis=1).mean()
    spread = np.linalg.norm(xy1 - xy1.mean(axis=0), axis=1).mean()
    assert err < 0.1 * spread


def test_deterministic_reset_and_transform() -> None:
    mu = _latents(3000)
    a, b = Projector(seed=11, max_fit_rows=500), Projector(seed=11, max_fit_rows=500)
    np.testing.assert_array_equal(a.fit_transform(mu), b.fit_transform(mu))
    a.fit_transform(mu @ _orthogonal(6, 1, True))
    np.testing.assert_allclose(a.transform(mu[:10] @ _orthogonal(6, 1, True)), a._prev_xy[:10], atol=1e-5)
    a.reset()
    np.testing.assert_array_equal(a.fit_transform(mu), Projector(seed=11, max_fit_rows=500).fit_transform(mu))


def test_state_dict_round_trip() -> None:
    mu = _latents(500)
    proj = Projector(seed=2)
    proj.fit_transform(mu)
    proj.fit_transform(mu @ _orthogonal(6, 3, True))
    state = proj.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    restored = Projector()
    restored.load_state_dict({k: v.copy() for k, v in state.items()})
    nxt = mu @ _orthogonal(6, 4, False) + 1.0
    np.testing.assert_array_equal(restored.fit_transform(nxt), proj.fit_transform(nxt))
    np.testing.assert_array_equal(restored.transform(mu[:5]), proj.transform(mu[:5]))
    # an unfitted projector's state loads as unfitted
    empty = Projector()
    empty.load_state_dict(Projector().state_dict())
    assert not empty.fitted
    with pytest.raises(ProjectionError, match="missing"):
        empty.load_state_dict({"seed": np.asarray(0)})


def test_edge_cases() -> None:
    assert Projector().fit_transform(np.zeros((0, 4))).shape == (0, 2)
    one_d = Projector().fit_transform(np.arange(5.0)[:, None])
    assert one_d.shape == (5, 2) and np.all(one_d[:, 1] == 0)
    with pytest.raises(ProjectionError, match="NaN"):
        Projector().fit_transform(np.array([[np.nan, 1.0]]))
    with pytest.raises(ProjectionError, match="unique"):
        Projector().fit_transform(np.zeros((2, 3)), ids=[1, 1])
    with pytest.raises(ProjectionError, match="before fit_transform"):
        Projector().transform(np.zeros((2, 3)))


def test_normalise_for_plot() -> None:
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(10_000, 2)) * [10.0, 2.0] + [100.0, -50.0]
    xy[0] = [1e6, 1e6]  # one outlier must not squash the map
    out = normalise_for_plot(xy)
    assert out.dtype == np.float32
    inner = np.abs(out[1:]).max(axis=1)
    assert np.quantile(inner, 0.97) <= 1.0 and np.quantile(inner, 0.5) > 0.05
    # one scale for both axes: the aspect ratio survives
    ratio = out[1:, 0].std() / out[1:, 1].std()
    assert ratio == pytest.approx(5.0, rel=0.05)
    assert normalise_for_plot(np.zeros((3, 2))).tolist() == [[0, 0]] * 3


# -- UMAP ----------------------------------------------------------------------------------------


def _blobs(n: int = 600, d: int = 8, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` well separated clusters in ``d`` dimensions: (points, cluster of each point)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 8.0
    y = np.arange(n) % k
    return centres[y] + rng.normal(size=(n, d)), y


def _centroids(xy: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([xy[y == c].mean(axis=0) for c in np.unique(y)])


def _reflect_rotate(theta: float) -> np.ndarray:
    return np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]]) @ np.diag([1.0, -1.0])


def test_umap_projector_aligns_a_reflected_rotated_map_back() -> None:
    rng = np.random.default_rng(0)
    raw1 = rng.normal(size=(500, 2)) * [4.0, 1.0]
    proj = UmapProjector()
    xy1 = proj.align(raw1)
    np.testing.assert_allclose(xy1, raw1, atol=1e-5)  # the first map without a reference is kept as is
    # the next version's UMAP: the same layout, moved a little, in another frame and scale
    raw2 = 3.0 * (raw1 + 0.05 * rng.normal(size=raw1.shape)) @ _reflect_rotate(2.0) + [10.0, -7.0]
    xy2 = proj.align(raw2)
    spread = np.linalg.norm(raw1 - raw1.mean(axis=0), axis=1).mean()
    assert np.linalg.norm(xy2 - xy1, axis=1).mean() < 0.05 * spread
    # control: the same map without alignment (only centred and scaled for display) is far off
    off = normalise_for_plot(raw2) - normalise_for_plot(raw1)
    assert np.linalg.norm(off, axis=1).mean() > 0.5 * np.linalg.norm(normalise_for_plot(raw1), axis=1).mean()


def test_umap_projector_first_map_follows_the_reference() -> None:
    rng = np.random.default_rng(1)
    pca_on_screen = rng.normal(size=(300, 2)) * [2.0, 0.5]
    raw = 5.0 * pca_on_screen @ _reflect_rotate(0.9) - 3.0
    xy = UmapProjector().align(raw, reference=pca_on_screen)
    np.testing.assert_allclose(xy, pca_on_screen, atol=1e-4)
    with pytest.raises(ProjectionError, match="reference"):
        UmapProjector().align(raw, reference=pca_on_screen[:10])
    with pytest.raises(ProjectionError, match=r"\[N, 2\]"):
        UmapProjector().align(np.zeros((5, 3)))


def test_umap_fit_alignment_keeps_orientation() -> None:
    """Real UMAP. A refit of the same latents (the app keeps its seed) in a reflected, rotated,
    scaled frame is aligned back onto the first map; a refit of slightly moved latents, whose
    clusters UMAP arranges somewhat differently, is still much closer once aligned than not."""
    pytest.importorskip("umap")
    mu, y = _blobs()
    params = UmapParams(seed=0, max_fit_rows=400, n_epochs=100)  # 400 fitted, 200 placed by transform
    proj = UmapProjector(params)
    xy1 = proj.fit_transform(mu)
    assert xy1.shape == (600, 2) and xy1.dtype == np.float32
    c1 = _centroids(normalise_for_plot(xy1), y)
    spread = np.linalg.norm(c1 - c1.mean(axis=0), axis=1).mean()

    def gap(xy: np.ndarray) -> float:
        return float(np.linalg.norm(_centroids(normalise_for_plot(xy), y) - c1, axis=1).mean() / spread)

    same = umap_embed(mu, params) @ _reflect_rotate(1.3) * 4.0 - 2.0
    assert gap(same) > 0.7 and gap(proj.align(same)) < 1e-3
    moved = mu + 0.1 * np.random.default_rng(3).normal(size=mu.shape)
    raw = umap_embed(moved, params) @ _reflect_rotate(1.3) * 4.0
    assert gap(proj.align(raw)) < 0.75 * gap(raw)


def test_umap_embed_rejects_too_few_points() -> None:
    with pytest.raises(ProjectionError, match="at least 4"):
        umap_embed(np.zeros((3, 2)), UmapParams())
