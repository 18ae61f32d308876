"""How the spectral autoencoder learns: its loss terms and its training step.

The loss is a multi-resolution spectral loss over time-frequency scales: L1 plus squared error of
the standardised log magnitude at full resolution, L1 at 2× and 4× pooled resolution; L1 of its
frame-to-frame change, which keeps attacks and grain from being averaged away (DESIGN.md: blur is
what gives a spectral model away); and, weighted by ``convergence_weight`` (default 1), spectral
convergence of the linear magnitude, which weights the loud partials. The VAE adds a KL term with
free bits. Measured: docs/experiments/spectral-training-choices.md.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from synth_core import dsp
from synth_core.models.base import Batch

if TYPE_CHECKING:
    from synth_core.models.spectral.config import SpectralConfig


class SpectralLearning:
    """The learning part of :class:`~synth_core.models.spectral.model.SpectralAutoencoder`.

    A mixin: ``losses`` runs the model's ``analyse``/``encode_spectrum``/``decode``, and ``step``
    applies its optimiser.
    """

    config: SpectralConfig
    optimizer: torch.optim.Optimizer
    steps_done: Tensor

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        spec = self.analyse(batch.audio, batch.pitch)
        cond = self._conditioning(batch.pitch, spec.shape[0])
        mean, logvar = self.encode_spectrum(spec, cond)
        if logvar is not None and self.training:
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        else:
            z = mean
        out = self.decode(z, batch.pitch)
        out_mag, spec_mag = self.magnitude_of(out), self.magnitude_of(spec)
        terms = spectral_loss(out, spec, out_mag, spec_mag)
        if self.config.mel_weight > 0:
            bank = mel_bank(self.sample_rate, self.config.n_fft, spec.device)
            terms["mel"] = mel_loss(out_mag, spec_mag, bank)
        if logvar is not None:
            k = self.config.pca_components
            terms["kl"] = kl_divergence(mean[:, k:], logvar[:, k:], free_bits=self.kl_free_bits())
        return terms

    def kl_free_bits(self) -> float:
        return 0.0

    def total(self, terms: Mapping[str, Tensor]) -> Tensor:
        weight = float(self.config.convergence_weight)
        total = terms["spectral"] + terms["delta"] + weight * terms["convergence"]
        if "mel" in terms:
            total = total + float(self.config.mel_weight) * terms["mel"]
        return total

    def step(self, batch: Batch) -> dict[str, float]:
        self.train()
        terms = self.losses(batch)
        loss = self.total(terms)
        self.optimizer.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            # the parameters this optimiser steps (a subclass may hold other networks)
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            self.optimizer.step()
            self.steps_done += 1
        return {"loss": float(loss.detach())} | {k: float(v.detach()) for k, v in terms.items()}

    def validate(self, batch: Batch) -> dict[str, float]:
        terms = self.losses(batch)
        return {"loss": float(self.total(terms))} | {k: float(v) for k, v in terms.items()}


def spectral_loss(
    out: Tensor, target: Tensor, out_mag: Tensor, target_mag: Tensor
) -> dict[str, Tensor]:
    """Loss terms between standardised log spectra ``[n, bins, frames]`` (see the module docs)."""
    # L1 alone settles on each bin's median level and ignores the sparse loud partials of bars
    # and bells; the squared term pulls towards them from the first steps
    spectral = (out - target).abs().mean() + (out - target).pow(2).mean()
    for factor in (2, 4):
        spectral = (
            spectral
            + (F.avg_pool2d(out[:, None], factor) - F.avg_pool2d(target[:, None], factor))
            .abs()
            .mean()
        )
    delta = (out.diff(dim=-1) - target.diff(dim=-1)).abs().mean()
    convergence = (
        (out_mag - target_mag).flatten(1).norm(dim=-1)
        / target_mag.flatten(1).norm(dim=-1).clamp_min(1e-6)
    ).mean()
    return {"spectral": spectral / 3, "delta": delta, "convergence": convergence}


@functools.lru_cache(maxsize=8)
def mel_bank(sample_rate: int, n_fft: int, device: torch.device) -> Tensor:
    """The 64-band mel filters of :func:`synth_core.metrics.clip_features`, on ``device``."""
    from synth_core import metrics  # scipy.linalg, which playing a model does not need

    return dsp.mel_filterbank(sample_rate, n_fft, metrics.N_MELS).to(device)


def mel_loss(out_mag: Tensor, target_mag: Tensor, bank: Tensor) -> Tensor:
    """L1 between log mel power spectrograms (``[n, bins, frames]`` magnitudes in).

    Within a band the loud partials dominate the power, so this term weighs what a listener
    hears in each band rather than the pattern of the quiet bins between partials, where a
    per-bin log loss spends most of its weight (on real soundfont notes 88% of the bins lie
    more than 80 dB below the clip's peak).
    """
    floor = 1e-10  # the power floor of the two-sample test's log-mel features
    out = torch.log(torch.einsum("mf,nft->nmt", bank, out_mag.pow(2)) + floor)
    target = torch.log(torch.einsum("mf,nft->nmt", bank, target_mag.pow(2)) + floor)
    return (out - target).abs().mean()


def kl_divergence(mean: Tensor, logvar: Tensor, *, free_bits: float) -> Tensor:
    """KL(q(z|x) ‖ N(0, I)) summed over latent dimensions, each dimension's batch-mean KL held
    at ≥ ``free_bits`` nats so the optimiser gains nothing by collapsing it
    (Kingma et al., 2016)."""
    per_dim = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean(0)
    return torch.clamp(per_dim, min=free_bits).sum()
