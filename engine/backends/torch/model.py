"""The SSVAE as a torch.nn.Module; parameter names equal the neutral names of base.py."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.backends.base import (
    GAUSS_VAR_FLOOR,
    ROI_EPS,
    ROI_GRAD_CAP,
    ROI_TINY,
    aux_output_size,
    aux_slice,
    loss_metrics,
    roi_split,
)
from engine.config import ModelConfig
from engine.tasks import AUX_HIDDEN, AuxHead


class _Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c1, c2 = cfg.enc_channels
        self.conv = cfg.encoder == "conv"
        self.rgb = cfg.channels > 1
        if self.conv:
            self.conv1 = nn.Conv2d(cfg.channels, c1, 4, stride=2, padding=1)
            self.conv2 = nn.Conv2d(c1, c2, 4, stride=2, padding=1)
            self.fc = nn.Linear(c2 * (cfg.height // 4) * (cfg.width // 4), cfg.hidden)
        else:
            self.dense = nn.Linear(cfg.pixels, 2 * cfg.hidden)
            self.fc = nn.Linear(2 * cfg.hidden, cfg.hidden)
        self.mu = nn.Linear(cfg.hidden, cfg.latent_dim)
        self.logvar = nn.Linear(cfg.hidden, cfg.latent_dim)
        self.comp = nn.Linear(cfg.hidden, cfg.components)
        self.dropout = cfg.dropout

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last convolutional feature map [B, C2, Sh, Sw] (Grad-CAM reads it); the dense encoder's
        first layer [B, 2H]. ``x``: [B, H, W] gray or [B, H, W, 3] (channels last, as stored)."""
        if not self.conv:
            return F.relu(self.dense(x.flatten(1)))
        h = F.relu(self.conv1(x.permute(0, 3, 1, 2) if self.rgb else x.unsqueeze(1)))
        return F.relu(self.conv2(h))

    def head(
        self, fmap: torch.Tensor, drop: torch.Tensor | None = None, mc: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``drop``: uniform noise [B, hidden] from the batch (training); ``mc``: own RNG."""
        h = F.relu(self.fc(fmap.flatten(1)))
        if self.dropout > 0 and (drop is not None or mc):
            u = drop if drop is not None else torch.rand_like(h)
            h = h * (u >= self.dropout).to(h.dtype) / (1.0 - self.dropout)
        return self.mu(h), self.logvar(h), self.comp(h)


class _Decoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(cfg.latent_dim + cfg.components, cfg.hidden)
        self.fc2 = nn.Linear(cfg.hidden, cfg.pixels)
        self.shape = cfg.sample_shape
        if cfg.decoder == "gaussian":
            self.logvar = nn.Parameter(torch.zeros(cfg.pixels))

    def forward(self, z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Pixel logits [B, *sample_shape]; the decoder sees the component responsibilities."""
        h = F.relu(self.fc1(torch.cat([z, q], dim=1)))
        return self.fc2(h).view(-1, *self.shape)


class _Prior(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.prior == "gmm":
            # Distinct means per component: with identical N(0, I) priors components cannot specialise.
            self.mu = nn.Parameter(torch.randn(cfg.components, cfg.latent_dim) * 1.5)
            self.logvar = nn.Parameter(torch.zeros(cfg.components, cfg.latent_dim))
        else:
            self.pseudo = nn.Parameter(torch.randn(cfg.components, *cfg.sample_shape))


class _Head(nn.Module):
    """One auxiliary task head (base.py: ``task.<name>.hid`` / ``.out``)."""

    def __init__(self, head: AuxHead, cfg: ModelConfig) -> None:
        super().__init__()
        sl = aux_slice(head, cfg)
        self.start, self.stop, self.kind = sl.start, sl.stop, head.kind
        width = sl.width
        if head.head == "mlp":
            self.hid = nn.Linear(width, AUX_HIDDEN)
            width = AUX_HIDDEN
        self.out = nn.Linear(width, aux_output_size(head, cfg))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        u = feats[:, self.start : self.stop]
        if hasattr(self, "hid"):
            u = F.relu(self.hid(u))
        return self.out(u)


class SSVAE(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.enc = _Encoder(cfg)
        self.dec = _Decoder(cfg)
        self.prior = _Prior(cfg)
        self.task = nn.ModuleDict({h.name: _Head(h, cfg) for h in cfg.aux})
        self.register_buffer("tau", torch.zeros(cfg.components, cfg.num_classes))

    def encode(self, x: torch.Tensor, drop: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        fmap = self.enc.features(x)
        mu, logvar, logits = self.enc.head(fmap, drop)
        q = torch.softmax(logits, dim=1)
        return {"fmap": fmap, "mu": mu, "logvar": logvar, "q": q, "logits": logits}

    def class_probs(self, q: torch.Tensor) -> torch.Tensor:
        return q @ self.tau

    def prior_params(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Component means and log-variances [K, D] (VampPrior: encoded pseudo-inputs, no dropout)."""
        if self.cfg.prior == "gmm":
            return self.prior.mu, self.prior.logvar
        e = self.encode(torch.sigmoid(self.prior.pseudo))
        return e["mu"], e["logvar"]


def _rec(model: SSVAE, logits_x: torch.Tensor, x: torch.Tensor, P: float) -> torch.Tensor:
    """Per-row reconstruction term (base.py): Bernoulli or Gaussian with learned per-pixel variance."""
    if model.cfg.decoder == "bernoulli":
        return F.binary_cross_entropy_with_logits(logits_x, x, reduction="none").flatten(1).sum(1) / P
    var = (torch.exp(model.dec.logvar) + GAUSS_VAR_FLOOR).view(1, *model.cfg.sample_shape)
    nll = 0.5 * (math.log(2 * math.pi) + torch.log(var) + (x - torch.sigmoid(logits_x)) ** 2 / var)
    return nll.flatten(1).sum(1) / P


def _aux(model: SSVAE, b: dict[str, torch.Tensor], mu: torch.Tensor, q: torch.Tensor, P: float) -> torch.Tensor:
    """sum_t task_w[t] * L_t over the auxiliary heads (base.py)."""
    total = torch.zeros((), device=mu.device)
    if not model.cfg.aux:
        return total
    feats = torch.cat([mu, q], dim=1)
    for t, head in enumerate(model.cfg.aux):
        u = model.task[head.name](feats)
        m = b["task_mask"][:, t]
        target = b["task_target"][:, t]
        if head.kind == "classification":
            per_row = F.cross_entropy(u, target.clamp(min=0).long(), reduction="none")
        elif head.kind == "regression":
            per_row = (u[:, 0] - target) ** 2
        else:
            per_row = F.binary_cross_entropy_with_logits(u, b["x"].flatten(1), reduction="none").sum(1) / P
        total = total + b["task_w"][t] * (per_row * m).sum() / m.sum().clamp(min=1)
    return total


def ssvae_loss(
    model: SSVAE, b: dict[str, torch.Tensor], use_roi: bool, use_cons: bool, train: bool = True
) -> dict[str, torch.Tensor]:
    """The loss of base.py's docstring. ``b`` holds tensors; returns scalar tensors.
    ``train`` applies the batch's dropout noise; eval mode uses none."""
    w = b["w"]
    x = b["x"]
    if use_roi:
        x = x.detach().requires_grad_(True)
    K = model.cfg.components
    P = float(model.cfg.pixels)
    e = model.encode(x, b["drop"] if train else None)
    q, mu, logvar = e["q"], e["mu"], e["logvar"]
    log_q = torch.log_softmax(e["logits"], dim=1)
    z = mu + torch.exp(0.5 * logvar) * b["eps"]
    logits_x = model.dec(z, q)
    rec = _rec(model, logits_x, b["x"], P)
    pm, plv = model.prior_params()  # [K, D]
    # KL(N(mu, s2) || N(pm_c, e^plv_c)) for every component, weighted by q(c|x).
    kl_each = 0.5 * (
        plv[None] - logvar[:, None] + (logvar[:, None].exp() + (mu[:, None] - pm[None]) ** 2) / plv[None].exp() - 1.0
    ).sum(-1)  # [B, K]
    kl_z = (q * kl_each).sum(1) / P
    kl_c = (q * (log_q + torch.log(torch.tensor(float(K))))).sum(1) / P
    probs = model.class_probs(q)
    y = b["y"]
    lab = y >= 0
    n_lab = lab.sum()
    yl = y.clamp(min=0)
    nll = -torch.log(probs.gather(1, yl[:, None]).squeeze(1) + 1e-8)
    sup = (nll * lab).sum() / n_lab.clamp(min=1)
    acc = ((probs.argmax(1) == y) & lab).sum() / n_lab.clamp(min=1)
    zero = torch.zeros((), device=x.device)
    if use_cons:
        with torch.no_grad():
            conf, pseudo = b["teacher_p"].max(1) if "teacher_p" in b else probs.max(1)
            mask = (conf >= b["threshold"]).float()
        q_aug = model.encode(b["x_aug"], b["drop_aug"] if train else None)["q"]
        p_aug = model.class_probs(q_aug)
        ce = -torch.log(p_aug.gather(1, pseudo[:, None]).squeeze(1) + 1e-8)
        cons = (ce * mask).mean()
    else:
        cons = zero
    qbar = q.mean(0)
    usage = (qbar * torch.log(qbar * K + 1e-12)).sum()
    if use_roi:
        rw = b["roi_weight"]
        # Ross et al. 2017: the gradient of the log-probabilities summed over classes; unlike that
        # of the predicted class alone it does not vanish once the model is confident.
        logp = torch.log(probs + 1e-8).sum(1)
        (g,) = torch.autograd.grad((logp * (rw > 0)).sum(), x, create_graph=True)
        # The share of the squared gradient outside the box, not its size: a classifier that
        # ignores its input would satisfy a size penalty. Rescaling each row by a constant (its
        # max |g|) leaves the share unchanged and keeps ROI_EPS negligible however small g is.
        g = g.flatten(1)
        g = g / (g.detach().abs().amax(1, keepdim=True) + ROI_TINY)
        g2 = g.pow(2).view(-1, model.cfg.height * model.cfg.width, model.cfg.channels).sum(2)  # every channel
        share = ((1.0 - b["roi_mask"].flatten(1)) * g2).sum(1) / (g2.sum(1) + ROI_EPS)
        roi = (rw * share).sum() / (rw > 0).sum().clamp(min=1)
    else:
        roi = zero
    aux = _aux(model, b, mu, q, P)
    return loss_metrics(w, (rec.mean(), kl_z.mean(), kl_c.mean(), sup, cons, usage, roi), aux, acc, n_lab.float())


def roi_capped_backward(model: SSVAE, terms: dict[str, torch.Tensor], w: torch.Tensor, use_roi: bool) -> None:
    """``terms["loss"]``'s gradient into the parameters' ``.grad``, the roi term's capped at
    ROI_GRAD_CAP times the norm of the other terms' (base.py)."""
    if not use_roi:
        terms["loss"].backward()
        return
    rest, roi_part = roi_split(w, terms)
    params = [p for p in model.parameters() if p.requires_grad]
    g_roi = torch.autograd.grad(roi_part, params, retain_graph=True, allow_unused=True)
    rest.backward()
    zero = torch.zeros((), device=rest.device)
    rest_sq = sum((p.grad.pow(2).sum() for p in params if p.grad is not None), zero)
    roi_sq = sum((g.pow(2).sum() for g in g_roi if g is not None), zero)
    scale = torch.clamp(ROI_GRAD_CAP * rest_sq.sqrt() / (roi_sq.sqrt() + ROI_TINY), max=1.0)
    for p, g in zip(params, g_roi, strict=True):
        if g is not None:
            p.grad = scale * g if p.grad is None else p.grad + scale * g
