"""The class palette beyond ten classes (issue 24): tab10 first (MNIST's colours unchanged), then a
Glasbey-style set that stays distinguishable up to 100 classes, and the unlabelled grey apart from all."""

from __future__ import annotations

import numpy as np

from app.colours import GLASBEY, MAX_CLASSES, TAB10, UNLABELLED, palette

MIN_37 = 25.0  # CIE76 distance: tab10's own closest pair is 27.7 apart
MIN_100 = 15.0
MIN_GREY = 18.0


def lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB 0..255 [..., 3] -> CIELAB (D65)."""
    c = np.asarray(rgb, float) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
    )
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def rgb(hex_colour: str) -> list[int]:
    return [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]


def unlabelled_on_white() -> list[float]:
    """UNLABELLED (an rgba grey) as it shows on the map's white background."""
    r, g, b, a = (float(x) for x in UNLABELLED[len("rgba(") : -1].split(","))
    return [255 - a * (255 - r), 255 - a * (255 - g), 255 - a * (255 - b)]


def glasbey(count: int) -> list[str]:
    """The search that made app.colours.GLASBEY (its comment says how)."""
    g = np.arange(0, 256, 8)
    cand = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    cl = lab(cand)
    keep = (cl[:, 0] >= 30) & (cl[:, 0] <= 80)
    cand, cl = cand[keep], cl[keep]
    taken = [lab(np.array(rgb(h))) for h in TAB10]
    taken += [lab(np.array([255, 255, 255])), lab(np.array(unlabelled_on_white()))]
    d = np.min(np.stack([np.linalg.norm(cl - t, axis=1) for t in taken]), 0)
    out = []
    for _ in range(count):
        j = int(np.argmax(d))
        r, g_, b = (int(x) for x in cand[j])
        out.append(f"#{r:02x}{g_:02x}{b:02x}")
        d = np.minimum(d, np.linalg.norm(cl - cl[j], axis=1))
    return out


def min_distance(colours: list[str]) -> float:
    pts = lab(np.array([rgb(c) for c in colours]))
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def test_the_first_ten_stay_tab10_and_the_list_is_the_searchs() -> None:
    assert palette(10) == TAB10 and palette(2) == TAB10[:2]  # MNIST's colours and a 2-class set's
    assert palette(37)[:10] == TAB10
    assert glasbey(len(GLASBEY)) == GLASBEY and MAX_CLASSES == 100


def test_colours_stay_distinguishable_up_to_100_classes() -> None:
    assert min_distance(palette(37)) > MIN_37
    assert min_distance(palette(100)) > MIN_100
    assert len(set(palette(100))) == 100


def test_the_unlabelled_grey_is_apart_from_every_class_colour() -> None:
    grey = lab(np.array(unlabelled_on_white()))
    dist = np.linalg.norm(lab(np.array([rgb(c) for c in palette(100)])) - grey, axis=1)
    assert dist.min() > MIN_GREY


def test_the_old_golden_ratio_hues_would_fail_the_bound() -> None:
    """Guards the test itself: the hues the palette had before (one lightness) fall below MIN_37."""
    import colorsys

    old = list(TAB10)
    for i in range(27):
        r, g, b = colorsys.hls_to_rgb((i * 0.618033988749895) % 1.0, 0.5, 0.65)
        old.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    assert min_distance(old) < MIN_37
