"""The SSVAE as a torch.nn.Module; parameter names equal the neutral names of base.py."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.backends.base import ROI_EPS, ROI_TINY, loss_metrics
from engine.config import ModelConfig


class _Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c1, c2 = cfg.enc_channels
        s = cfg.image_size // 4
        self.conv1 = nn.Conv2d(1, c1, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 4, stride=2, padding=1)
        self.fc = nn.Linear(c2 * s * s, cfg.hidden)
        self.mu = nn.Linear(cfg.hidden, cfg.latent_dim)
        self.logvar = nn.Linear(cfg.hidden, cfg.latent_dim)
        self.comp = nn.Linear(cfg.hidden, cfg.components)
        self.dropout = cfg.dropout

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last convolutional feature map [B, C2, S, S] (Grad-CAM reads it)."""
        h = F.relu(self.conv1(x.unsqueeze(1)))
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
        self.fc2 = nn.Linear(cfg.hidden, cfg.image_size * cfg.image_size)
        self.size = cfg.image_size

    def forward(self, z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Pixel logits [B, H, W]; the decoder sees the component responsibilities."""
        h = F.relu(self.fc1(torch.cat([z, q], dim=1)))
        return self.fc2(h).view(-1, self.size, self.size)


class _Prior(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        # Distinct means per component: with identical N(0, I) priors components cannot specialise.
        self.mu = nn.Parameter(torch.randn(cfg.components, cfg.latent_dim) * 1.5)
        self.logvar = nn.Parameter(torch.zeros(cfg.components, cfg.latent_dim))


class SSVAE(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.enc = _Encoder(cfg)
        self.dec = _Decoder(cfg)
        self.prior = _Prior(cfg)
        self.register_buffer("tau", torch.zeros(cfg.components, cfg.num_classes))

    def encode(self, x: torch.Tensor, drop: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        fmap = self.enc.features(x)
        mu, logvar, logits = self.enc.head(fmap, drop)
        q = torch.softmax(logits, dim=1)
        return {"fmap": fmap, "mu": mu, "logvar": logvar, "q": q, "logits": logits}

    def class_probs(self, q: torch.Tensor) -> torch.Tensor:
        return q @ self.tau


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
    P = float(x.shape[1] * x.shape[2])
    e = model.encode(x, b["drop"] if train else None)
    q, mu, logvar = e["q"], e["mu"], e["logvar"]
    log_q = torch.log_softmax(e["logits"], dim=1)
    z = mu + torch.exp(0.5 * logvar) * b["eps"]
    logits_x = model.dec(z, q)
    rec = F.binary_cross_entropy_with_logits(logits_x, b["x"], reduction="none").sum((1, 2)) / P
    pm, plv = model.prior.mu, model.prior.logvar  # [K, D]
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
            conf, pseudo = probs.max(1)
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
        g = g / (g.detach().abs().amax((1, 2), keepdim=True) + ROI_TINY)
        g2 = g.pow(2)
        share = ((1.0 - b["roi_mask"]) * g2).sum((1, 2)) / (g2.sum((1, 2)) + ROI_EPS)
        roi = (rw * share).sum() / (rw > 0).sum().clamp(min=1)
    else:
        roi = zero
    return loss_metrics(w, (rec.mean(), kl_z.mean(), kl_c.mean(), sup, cons, usage, roi), acc, n_lab.float())
