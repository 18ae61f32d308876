"""Giving new sounds back the grain a spectral decoder smooths away.

A decoder trained on a spectral loss predicts the expected magnitude, so the random part of a
sound (the grain of noise, the flicker of a rough tone) comes out smoothed. :class:`SpectralTexture`
measures, per training clip and mel band, how much frame-to-frame change the rendered decode
lacks (:meth:`~SpectralTexture.fit_texture`), and gives it back to new sounds as random band gains
(:meth:`~SpectralTexture.texture_jitter`), scaled by the :data:`GRAIN` slider.
Measured: docs/experiments/spectral-texture.md.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from synth_core import dsp
from synth_core.models.base import Control, safe_audio

if TYPE_CHECKING:
    from synth_core.models.spectral.config import SpectralConfig

# Scales the texture that new sounds get back (SpectralAutoencoder.fit_texture)
GRAIN = Control(
    name="grain",
    label="Grain",
    minimum=0.0,
    maximum=2.0,
    default=1.0,
    unit="×",
    help="How much of the training sounds' grain and flicker new sounds get back (0: smooth)",
)


class SpectralTexture:
    """The texture part of :class:`~synth_core.models.spectral.model.SpectralAutoencoder`.

    A mixin: it reads the model's config, training latents and buffers and renders through its
    ``decode`` and ``render``; its one state is the ``train_texture`` buffer, ``[clips, bands]``.
    """

    config: SpectralConfig
    sample_rate: int
    bin_mean: Tensor
    bin_std: Tensor
    pitched: Tensor
    train_pitches: Tensor
    train_latents: Tensor
    train_texture: Tensor

    def _texture_weights(self) -> Tensor:
        """``[bands, bins]``: how much of each bin's jitter comes from each mel band (each
        bin's weights sum to 1, so neighbouring bins move together, as a band of noise does)."""
        cfg = self.config
        bank = dsp.mel_filterbank(self.sample_rate, cfg.n_fft, cfg.texture_bands)
        return (bank / bank.sum(0, keepdim=True).clamp_min(1e-8)).to(self.bin_mean.device)

    def texture_jitter(self, sigma: Tensor, frames: int, generator: torch.Generator) -> Tensor:
        """Random band gains for ``sigma`` ``[n, bands]`` (log-magnitude deviation per band),
        white in time, as log magnitude ``[n, bins, frames]`` on the linear frequency axis (the
        ``jitter`` of ``render``, which adds it after a harmonic model's spectrum is stretched
        back: added on the harmonic axis, a low note's bass bands would land on its highs).

        Each bin's log gain δ is Gaussian with variance v; it is offset by −v so that the mean
        power is unchanged (E[e^{2δ}] = e^{2v} for δ ~ N(0, v)).
        """
        weights = self._texture_weights()
        device = self.bin_mean.device
        noise = torch.randn(sigma.shape[0], sigma.shape[1], frames, generator=generator)
        band = noise.to(device) * sigma[:, :, None]
        offset = torch.einsum("mf,nm->nf", weights.pow(2), sigma.pow(2))
        return torch.einsum("mf,nmt->nft", weights, band) - offset[:, :, None]

    def _change_std(self, audio: Tensor) -> Tensor:
        """Per clip and mel band, the deviation over time of the log-mel frame-to-frame change
        ``[n, bands]``: how grainy or steady each band sounds."""
        cfg = self.config
        out = []
        for start in range(0, audio.shape[0], 32):
            mel = dsp.log_mel(
                audio[start : start + 32],
                self.sample_rate,
                n_fft=cfg.n_fft,
                hop=cfg.hop,
                n_mels=cfg.texture_bands,
            )
            out.append(mel.diff(dim=-1).std(dim=-1))
        return torch.cat(out)

    @torch.no_grad()
    def _render_training(self, sigma: Tensor | None) -> Tensor:
        """The training latents rendered as ``generate`` renders, with texture ``sigma``."""
        generator = torch.Generator().manual_seed(0)
        pitches = self.train_pitches if bool(self.pitched) else None
        out = []
        for start in range(0, self.train_latents.shape[0], 32):
            part = slice(start, start + 32)
            pitch = None if pitches is None else pitches[part]
            spec = self.decode(self.train_latents[part], pitch)
            jitter = None
            if sigma is not None:
                jitter = self.texture_jitter(sigma[part], spec.shape[-1], generator)
            out.append(safe_audio(self.render(spec, pitch, jitter=jitter)))
        return torch.cat(out)

    @torch.no_grad()
    def fit_texture(self, audio: Tensor) -> None:
        """Learn, per training clip and mel band, how much frame-to-frame grain its decoded
        render lacks, and the jitter that gives it back (``train_texture``).

        A decoder trained on a spectral loss predicts the expected magnitude, so what is random
        in a sound — the grain of noise, the flicker of a rough tone — comes out smoothed, and
        the Griffin-Lim render smooths it further, so new sounds come out too clean. They get
        it back as random band gains, white in time (:meth:`texture_jitter`), sized for the
        training sound each one is drawn near. A band that is steady in the real sound (a clean
        tone's partials) gets none; a band that is near-silent gets the flicker of its noise
        floor, far below hearing but seen by any log-spectral measure. One render-and-measure
        round, not two. Measured: docs/experiments/spectral-texture.md.

        Fit: for each clip and band, the change variance the real clip has and the plain
        render lacks, ``D = max(0, real² − plain²)``; a first jitter of the size an ideal
        renderer would need (a log-magnitude gain of deviation s moves the log-power change by
        deviation 2√2·s) is rendered and measured, and each band's jitter is scaled by how much
        of the asked-for variance the renderer let through (least squares over the clips).
        """
        n = self.train_latents.shape[0]
        bands = int(self.config.texture_bands)
        if bands == 0 or n == 0 or n != audio.shape[0]:
            self.train_texture = torch.zeros(n, bands, device=self.bin_mean.device)
            return
        real = self._change_std(self._fit_length(audio).to(self.bin_mean.device))
        plain = self._change_std(self._render_training(None))
        deficit = (real.pow(2) - plain.pow(2)).clamp_min(0.0)
        probe = deficit.sqrt() / (2 * math.sqrt(2))
        gained = self._change_std(self._render_training(probe)).pow(2) - plain.pow(2)
        passed = (gained * deficit).sum(0) / deficit.pow(2).sum(0).clamp_min(1e-12)
        self.train_texture = probe / passed.clamp(0.05, 1.0).sqrt()

    def _has_texture(self) -> bool:
        texture = self.train_texture
        return texture.shape[1] > 0 and len(texture) == len(self.train_latents) > 0
