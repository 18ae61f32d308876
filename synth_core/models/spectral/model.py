"""The spectral autoencoder: its network, representation, data statistics and saved state.

What it plays, how it learns and its texture are mixed in from
:mod:`~synth_core.models.spectral.sounds`, :mod:`~synth_core.models.spectral.learning` and
:mod:`~synth_core.models.spectral.texture`; the package docstring gives the design.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synth_core import dsp, latent, render
from synth_core.models.base import TrainableModel, safe_audio
from synth_core.models.spectral.config import SpectralConfig
from synth_core.models.spectral.harmonic import from_harmonic, stretch_ratio, to_harmonic
from synth_core.models.spectral.learning import SpectralLearning
from synth_core.models.spectral.sounds import SpectralSounds
from synth_core.models.spectral.texture import SpectralTexture

if TYPE_CHECKING:
    from synth_core.dataset import ClipSet

log = logging.getLogger(__name__)

PITCH_FEATURES = 2  # (MIDI − 60) / 24, and 1 where the pitch is known


def pitch_features(pitch: Tensor | None, n: int, device: torch.device) -> Tensor:
    if pitch is None:
        return torch.zeros(n, PITCH_FEATURES, device=device)
    pitch = pitch.to(device).float().reshape(n)
    known = torch.isfinite(pitch)
    centred = torch.where(known, (pitch - 60.0) / 24.0, torch.zeros_like(pitch))
    return torch.stack([centred, known.float()], dim=-1)


class SpectralAutoencoder(
    SpectralSounds, SpectralTexture, SpectralLearning, TrainableModel, nn.Module
):
    """Convolutional autoencoder over standardised log-magnitude spectrograms.

    Subclasses set ``family``, ``config_class`` and ``variational``; the VAE adds the KL terms.
    Playing (:class:`SpectralSounds`), learning (:class:`SpectralLearning`) and texture
    (:class:`SpectralTexture`) are mixed in from their own modules.
    """

    family: ClassVar[str] = ""
    config_class: ClassVar[type[SpectralConfig]] = SpectralConfig
    variational: ClassVar[bool] = False
    # the Trainer's pitch/gain/shift augmentation blurs the partials this model learns
    augments: ClassVar[bool] = False
    can_encode: ClassVar[bool] = True
    can_decode: ClassVar[bool] = True
    can_resynthesize: ClassVar[bool] = True
    reconstructs_with_pitch: ClassVar[bool] = True

    def __init__(self, config: SpectralConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.sample_rate = int(config.sample_rate)
        c, bins, lc = config.channels, config.n_bins, config.latent_channels
        out = 2 * lc if self.variational else lc
        self.encoder = nn.Sequential(
            nn.Conv1d(bins + PITCH_FEATURES, c, 1),
            nn.LeakyReLU(0.2),
            nn.Conv1d(c, c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv1d(c, c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv1d(c, out, 3, padding=1),
        )
        self.decoder = nn.Sequential(
            nn.Conv1d(lc + PITCH_FEATURES, c, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv1d(c, c, 5, padding=2),
            nn.LeakyReLU(0.2),
            nn.Upsample(size=config.n_frames, mode="nearest"),
            nn.Conv1d(c, c, 5, padding=2),
            nn.LeakyReLU(0.2),
            nn.Conv1d(c, bins, 1),
        )
        self.register_buffer("bin_mean", torch.zeros(bins))
        self.register_buffer("bin_std", torch.ones(bins))
        self.register_buffer("pitched", torch.zeros((), dtype=torch.bool))
        self.register_buffer("train_pitches", torch.zeros(0))
        self.register_buffer("train_latents", torch.zeros(0, config.latent_dim))
        # per training clip and mel band: the jitter that gives its texture back (fit_texture)
        self.register_buffer("train_texture", torch.zeros(0, config.texture_bands))
        # how far new sounds move from the training sounds at novelty 1 (fit_novelty; 0: not
        # measured, so only variations of training sounds are drawn)
        self.register_buffer("novelty_scale", torch.zeros(()))
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        # the MIDI pitch that the harmonic axis leaves unstretched (NaN: spectra on the linear
        # axis, as for unlabelled data and for models saved before the axis existed)
        self.register_buffer("harmonic_reference", torch.full((), float("nan")))
        k, size = config.pca_components, bins * config.n_frames
        self.register_buffer("pca_mean", torch.zeros(size))
        self.register_buffer("pca_basis", torch.zeros(k, size))
        self.register_buffer("pca_scale", torch.ones(k))
        # the network starts as "no correction" to the linear part and learns what it misses
        nn.init.zeros_(self.decoder[-1].weight)
        nn.init.zeros_(self.decoder[-1].bias)
        self.axes = latent.LatentAxes.identity(config.latent_dim)
        self._trained = list(self.parameters())

    @functools.cached_property
    def optimizer(self) -> torch.optim.Optimizer:
        """Made on first use: a model opened to play, export or evaluate never steps, and a
        torch optimiser's first construction imports ``torch._dynamo`` (3.4 s)."""
        return torch.optim.Adam(self._trained, lr=self.config.learning_rate)

    @classmethod
    def from_config(cls, config: SpectralConfig) -> SpectralAutoencoder:
        return cls(config)

    # representation ----------------------------------------------------------------------------

    @property
    def harmonic(self) -> bool:
        """True when this model's spectra live on the harmonic axis (see :meth:`analyse`)."""
        return bool(torch.isfinite(self.harmonic_reference))

    def _stretch(self, pitch: Tensor | None, n: int) -> Tensor:
        """``[n]`` ratios ``f0 / f_reference`` for the harmonic axis (1 where pitch is unknown)."""
        if pitch is None:
            return torch.ones(n, device=self.bin_mean.device)
        pitch = pitch.to(self.bin_mean.device).float().reshape(n)
        return stretch_ratio(pitch, float(self.harmonic_reference))

    def _log_magnitude(self, audio: Tensor, pitch: Tensor | None) -> Tensor:
        """Audio ``[n, samples]`` → log magnitude on the model's frequency axis."""
        cfg = self.config
        log_mag = torch.log(dsp.magnitude(audio, n_fft=cfg.n_fft, hop=cfg.hop) + cfg.log_floor)
        if self.harmonic:
            log_mag = to_harmonic(log_mag, self._stretch(pitch, log_mag.shape[0]))
        return log_mag

    def analyse(self, audio: Tensor, pitch: Tensor | None = None) -> Tensor:
        """Audio ``[n, samples]`` → standardised log magnitude ``[n, bins, frames]``; on the
        harmonic axis, stretched by each clip's ``pitch`` (MIDI ``[n]``, NaN: unknown), in which
        the network, the PCA part, the loss and :meth:`magnitude_of` all work."""
        log_mag = self._log_magnitude(audio, pitch)
        return (log_mag - self.bin_mean[:, None]) / self.bin_std[:, None]

    def magnitude_of(self, standardised: Tensor) -> Tensor:
        log_mag = standardised * self.bin_std[:, None] + self.bin_mean[:, None]
        return (torch.exp(log_mag) - self.config.log_floor).clamp_min(0.0)

    def render(
        self,
        standardised: Tensor,
        pitch: Tensor | None = None,
        *,
        iterations: int | None = None,
        jitter: Tensor | None = None,
    ) -> Tensor:
        """Standardised log magnitude → audio ``[n, samples]`` (not yet peak-limited), with
        ``iterations`` fast Griffin-Lim steps (default: the config's ``render_iterations``); on
        the harmonic axis, stretched back to the linear one at ``pitch`` (MIDI ``[n]``).

        ``jitter`` (log magnitude ``[n, bins, frames]`` on the linear axis, the texture of
        :meth:`texture_jitter`) is added after that stretch: its bands are bands of heard
        frequency, and on the harmonic axis a bin is a different frequency for every pitch."""
        cfg = self.config
        if self.harmonic or jitter is not None:
            log_mag = standardised * self.bin_std[:, None] + self.bin_mean[:, None]
            if self.harmonic:
                log_mag = from_harmonic(log_mag, self._stretch(pitch, log_mag.shape[0]))
            if jitter is not None:
                log_mag = log_mag + jitter
            magnitude = (torch.exp(log_mag) - cfg.log_floor).clamp_min(0.0)
        else:
            magnitude = self.magnitude_of(standardised)
        return render.render_magnitude(
            magnitude,
            n_fft=cfg.n_fft,
            hop=cfg.hop,
            length=cfg.clip_samples,
            n_iter=cfg.render_iterations if iterations is None else int(iterations),
        )

    def resynthesize(self, audio: Tensor) -> Tensor:
        """The renderer alone: real audio's magnitudes rendered back, no network in between
        (what ``evaluate`` scores as the renderer's ceiling)."""
        cfg = self.config
        mag = dsp.magnitude(self._fit_length(audio), n_fft=cfg.n_fft, hop=cfg.hop)
        out = render.render_magnitude(
            mag, n_fft=cfg.n_fft, hop=cfg.hop, length=cfg.clip_samples, n_iter=cfg.render_iterations
        )
        return safe_audio(out)

    # network -----------------------------------------------------------------------------------

    def _conditioning(self, pitch: Tensor | None, n: int) -> Tensor:
        device = self.bin_mean.device
        if not bool(self.pitched):
            return torch.zeros(n, PITCH_FEATURES, device=device)
        return pitch_features(pitch, n, device)

    def encode_spectrum(self, spec: Tensor, cond: Tensor) -> tuple[Tensor, Tensor | None]:
        """Standardised spectrum → (mean, log-variance or None), each ``[n, latent_dim]``."""
        cond_frames = cond[:, :, None].expand(-1, -1, spec.shape[-1])
        out = self.encoder(torch.cat([spec, cond_frames], dim=1)).flatten(1)
        coeffs = ((spec.flatten(1) - self.pca_mean) @ self.pca_basis.T) / self.pca_scale
        if self.variational:
            mean, logvar = out.view(out.shape[0], 2, -1).unbind(1)
            # the linear part is deterministic: its "log-variance" is never sampled or penalised
            fixed = torch.full_like(coeffs, -30.0)
            return torch.cat([coeffs, mean], -1), torch.cat([fixed, logvar.clamp(-12, 6)], -1)
        return torch.cat([coeffs, out], -1), None

    def decode(self, z: Tensor, pitch: Tensor | None = None) -> Tensor:
        """Latents ``[n, latent_dim]`` → standardised log magnitude ``[n, bins, frames]``."""
        cfg = self.config
        k = cfg.pca_components
        cond = self._conditioning(pitch, z.shape[0])
        base = self.pca_mean + (z[:, :k] * self.pca_scale) @ self.pca_basis
        h = z[:, k:].reshape(z.shape[0], cfg.latent_channels, cfg.latent_frames)
        h = torch.cat([h, cond[:, :, None].expand(-1, -1, cfg.latent_frames)], dim=1)
        return base.view(z.shape[0], cfg.n_bins, cfg.n_frames) + self.decoder(h)

    # data statistics ---------------------------------------------------------------------------

    def begin(self, clips: ClipSet) -> None:
        """Per-bin statistics of the training spectra; whether to condition on pitch."""
        cfg = self.config
        with torch.no_grad():
            total = torch.zeros(cfg.n_bins)
            total_sq = torch.zeros(cfg.n_bins)
            count = 0
            has_pitch = bool(torch.isfinite(clips.pitch).any())
            self.pitched.fill_(cfg.pitch_conditioning and has_pitch)
            known = clips.pitch[torch.isfinite(clips.pitch)]
            top = float(known.max()) if cfg.harmonic_axis and bool(self.pitched) else math.nan
            self.harmonic_reference.fill_(top)
            for start in range(0, len(clips), 64):
                part = slice(start, start + 64)
                log_mag = self._log_magnitude(clips.audio[part], clips.pitch[part])
                total += log_mag.sum((0, 2))
                total_sq += log_mag.pow(2).sum((0, 2))
                count += log_mag.shape[0] * log_mag.shape[2]
            mean = total / count
            std = (total_sq / count - mean.pow(2)).clamp_min(1e-4).sqrt()
            self.bin_mean.copy_(mean)
            self.bin_std.copy_(std.clamp_min(0.1))
            self.train_pitches = known.float().clone() if bool(self.pitched) else torch.zeros(0)
            self._fit_pca(clips)

    def _fit_pca(self, clips: ClipSet) -> None:
        """The linear part: PCA of the training clips' standardised log spectrograms (at most
        512 of them, chosen evenly), as in the eigen-sounds baseline."""
        k = self.config.pca_components
        if k == 0:
            return
        pick = torch.linspace(0, len(clips) - 1, min(len(clips), 512)).round().long().unique()
        parts = [pick[i : i + 64] for i in range(0, len(pick), 64)]
        flat = torch.cat([self.analyse(clips.audio[p], clips.pitch[p]).flatten(1) for p in parts])
        mean = flat.mean(0)
        _, singular, vh = torch.linalg.svd(flat - mean, full_matrices=False)
        found = min(k, vh.shape[0])
        self.pca_mean.copy_(mean)
        self.pca_basis.zero_()
        self.pca_basis[:found] = vh[:found]
        scale = torch.ones(k)
        scale[:found] = singular[:found] / max(1.0, (flat.shape[0] - 1) ** 0.5)
        self.pca_scale.copy_(scale.clamp_min(1e-3))

    def end(self, clips: ClipSet) -> None:
        """The training clips' final latents, then the sliders (:meth:`fit_sliders`), the
        texture (:meth:`fit_texture`) and how far new sounds move (:meth:`fit_novelty`)."""
        device = self.bin_mean.device
        latents = []
        for start in range(0, len(clips), 64):
            audio = clips.audio[start : start + 64].to(device)
            pitch = clips.pitch[start : start + 64]
            latents.append(self.encode(audio, pitch=pitch).cpu())
        self.train_latents = torch.cat(latents).to(device)
        if bool(self.pitched):  # aligned with train_latents, NaN where a clip has no label
            self.train_pitches = clips.pitch.float().clone().to(device)
        self.fit_sliders(clips)
        self.fit_texture(clips.audio)
        self.fit_novelty(clips)

    # pitch and clip length ---------------------------------------------------------------------

    @property
    def accepts_pitch(self) -> bool:
        return bool(self.pitched)

    @property
    def pitch_conditioned(self) -> bool:
        return bool(self.pitched)

    def _fit_length(self, audio: Tensor) -> Tensor:
        length = self.config.clip_samples
        audio = audio.reshape(-1, audio.shape[-1]).float()
        if audio.shape[-1] >= length:
            return audio[:, :length]
        return F.pad(audio, (0, length - audio.shape[-1]))

    # state -------------------------------------------------------------------------------------

    def state(self) -> dict[str, Tensor]:
        state = {k: v for k, v in self.state_dict().items()}
        state.update(self.axes.state())
        return state

    def load_state(self, state: Mapping[str, Tensor]) -> None:
        state = dict(state)
        axes = latent.LatentAxes.from_state(state)
        own = {k: v for k, v in state.items() if not k.startswith("latent.")}
        # data-sized buffers are re-allocated to the saved shape before loading
        self.train_pitches = torch.zeros_like(own["train_pitches"]).to(self.bin_mean.device)
        self.train_latents = torch.zeros_like(own["train_latents"]).to(self.bin_mean.device)
        # models saved before texture existed play as they did: no texture
        own.setdefault("train_texture", torch.zeros(0, self.config.texture_bands))
        self.train_texture = torch.zeros_like(own["train_texture"]).to(self.bin_mean.device)
        # models saved before novelty was measured draw variations of training sounds only
        own.setdefault("novelty_scale", torch.zeros(()))
        # models saved before the harmonic axis keep their linear one
        own.setdefault("harmonic_reference", torch.full((), float("nan")))
        self.load_state_dict(own, strict=True)
        self.axes = axes

    def _apply(self, fn: Any, recurse: bool = True) -> SpectralAutoencoder:
        # keep the latent axes (plain tensors, not buffers) on the model's device
        super()._apply(fn, recurse)
        self.axes = latent.LatentAxes(*(fn(t) for t in vars(self.axes).values()))
        return self
