"""The selected sample's saliency as plain data, for the page's script (``/_ll/saliency``,
app/assets/xai.js): no Dash callback for a selection.

A selection asks the XAI worker at once and waits up to ``settings.xai_sync_wait_ms`` for the
answer, so that it is usually drawn with the sample; a slower answer comes back as "pending" and
the script asks again with ``poll`` until it is ready.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from app.classnames import name_of
from app.services.workers import XaiAnswer
from app.services.xai import SaliencyRequests
from engine.images import overlay_png, png_b64

METHOD_NAMES = {"gradcam": "Grad-CAM", "smoothgrad": "SmoothGrad", "consensus": "consensus"}
KINDS = {"pred": "predicted", "true": "true label", "class": "chosen class"}


def _png_uri(b64: str) -> str:
    return "data:image/png;base64," + b64


def saliency_answer(
    xai: SaliencyRequests, client: str, serial: int, target: str | int, poll: bool, wait_s: float
) -> XaiAnswer:
    """The tab's answer about ``serial``: a new request that waits up to ``wait_s``, or with
    ``poll`` the pending one's (asked again when the tab's newest request is about another sample:
    it was replaced, or the worker restarted)."""
    if poll:
        ans = xai.poll(client, 0.05)
        if ans is not None and (ans.result is None or ans.result.sample_idx == serial):
            return ans
    return xai.ask(client, serial, target, wait_s)


def saliency_view(answer: XaiAnswer, image: np.ndarray | None, names: Sequence[str] = ()) -> dict[str, Any]:
    """What xai.js draws: Grad-CAM, SmoothGrad and their consensus as overlays over ``image`` (the
    consensus drawn by the worker, with the focus box), what they explain, how well the two methods
    agree and where the weights come from; ``{"state", "message"}`` alone while it is not ready.
    ``names``: the class names (the numbers where empty)."""
    if answer.state != "ready" or answer.result is None:
        return {"state": answer.state, "message": answer.message}
    r = answer.result
    if image is None:
        raise ValueError(f"a ready saliency of #{r.sample_idx} is drawn over its image: none was given")
    images = []
    for m in ("gradcam", "smoothgrad", "consensus"):
        if m not in r.maps:
            continue
        if m == "consensus":
            src = _png_uri(r.overlay_png_b64)
        else:
            src = _png_uri(png_b64(overlay_png(image, np.asarray(r.maps[m], np.float32), None)))
        images.append({"method": m, "name": METHOD_NAMES[m], "src": src})
    agree = r.agreement or {}
    agree_txt = (
        f"methods agree: r = {agree.get('correlation', float('nan')):.2f}, "
        f"top-10% overlap {agree.get('top_overlap', float('nan')):.2f}"
        if agree
        else ""
    )
    box = r.focus_bbox
    box_txt = (
        f"focus box x {box[0]:.2f}-{box[2]:.2f}, y {box[1]:.2f}-{box[3]:.2f}" if box else "no single region stands out"
    )
    kind = KINDS.get(r.target_kind, r.target_kind)
    return {
        "state": "ready",
        "message": "",
        "serial": int(r.sample_idx),
        "step": int(r.snapshot_step),
        "images": images,
        "explains": f"explains class {name_of(names, int(r.target))} ({kind})",
        "top": "top: " + ", ".join(f"{name_of(names, int(t['class']))}: {float(t['p']):.2f}" for t in r.top_k),
        "agree": agree_txt,
        "box": box_txt,
        "meta": f"snapshot step {r.snapshot_step} · {'cached' if r.cached else f'{r.ms:.0f} ms'}",
    }
