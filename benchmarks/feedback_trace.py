"""Diagnostics for bench_feedback ``--trace`` (torch backend only): what each step's roi term does.

Every ``every`` steps, before the optimiser step and on the same batch (the torch backend takes
all its randomness from the batch and has no batch statistics, so this extra pass leaves the
trajectory unchanged), record: the gradient norm over the parameters of the weighted roi term and
of the rest of the loss, the largest raw input gradient |dS/dx| on the boxed rows (the roi term
divides by it), the encoder's largest |logit|, the mean entropy of the class probabilities and the
share of the batch given the most common predicted class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.backends.base import Batch
from engine.backends.torch.model import ssvae_loss


def attach(backend: Any, every: int = 25) -> list[dict[str, float]]:
    """Wrap ``backend.train_step``; returns the list the records are appended to."""
    records: list[dict[str, float]] = []
    step = {"n": 0}
    inner = backend.train_step

    def train_step(batch: Batch) -> Any:
        if step["n"] % every == 0:
            records.append({"step": step["n"], **_probe(backend, batch)})
        step["n"] += 1
        return inner(batch)

    backend.train_step = train_step
    return records


def _norm(grads: tuple) -> float:
    return float(torch.sqrt(sum((g.pow(2).sum() for g in grads if g is not None), torch.zeros(()))))


def _probe(backend: Any, batch: Batch) -> dict[str, float]:
    model = backend.model
    model.train()
    b = backend._tensors(batch)
    use_roi, use_cons = backend.loss_branches(batch)
    params = [p for p in model.parameters() if p.requires_grad]
    terms = ssvae_loss(model, b, use_roi=use_roi, use_cons=use_cons)
    w_roi = float(b["w"][-1])
    roi_part = b["w"][-1] * terms["roi"]
    g_roi = torch.autograd.grad(roi_part, params, retain_graph=True, allow_unused=True) if use_roi else ()
    g_rest = torch.autograd.grad(terms["loss"] - roi_part, params, allow_unused=True)
    x = b["x"].detach().requires_grad_(True)
    e = model.encode(x, b["drop"])
    probs = model.class_probs(e["q"])
    rows = b["roi_weight"] > 0
    raw_max = 0.0
    if bool(rows.any()):
        (g,) = torch.autograd.grad(torch.log(probs[rows] + 1e-8).sum(), x)
        raw_max = float(g[rows].abs().flatten(1).amax(1).min())
    p = probs.detach().numpy()
    pred = p.argmax(1)
    return {
        "w_roi": w_roi,
        "roi": float(terms["roi"]),
        "gnorm_roi": _norm(g_roi) if use_roi else 0.0,
        "gnorm_rest": _norm(g_rest),
        "min_raw_max_dSdx": raw_max,
        "max_abs_logit": float(e["logits"].detach().abs().max()),
        "entropy": float(-(p * np.log(p + 1e-12)).sum(1).mean()),
        "top_class_share": float(np.bincount(pred, minlength=p.shape[1]).max() / len(pred)),
    }
