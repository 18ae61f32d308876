"""What the spectral autoencoder plays: sliders, new sounds, encodings and reconstructions.

New sounds are drawn near the training latents (a training latent moved part-way to one of its
neighbours, :func:`synth_core.latent.neighbour_draw`): a single Gaussian over such a latent would
land between unlike sounds (a bell and a drum) and decode to neither. Sliders are the PCA axes of
the training latents, in σ. A reconstruction starts from the encoder's latent and refines it
against the input (:meth:`SpectralSounds.refine`).
Measured: docs/experiments/spectral-reconstruction.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from synth_core import dsp, latent
from synth_core.errors import ModelConfigError
from synth_core.models.base import Control, resolve_values, safe_audio
from synth_core.models.spectral.texture import GRAIN

if TYPE_CHECKING:
    from synth_core.dataset import ClipSet
    from synth_core.models.spectral.config import SpectralConfig


log = logging.getLogger(__name__)

NOVELTY_DRAWS = 32
"""New sounds drawn at each scale :meth:`SpectralSounds.fit_novelty` tries."""
NOVELTY_FIRST_SCALE = 1 / 64
NOVELTY_TRIES = 10  # scales 1/64 … 8
NOVELTY_SEED = 20261202


def interpolate_scale(tried: list[tuple[float, float]]) -> float:
    """The scale at which the ratio (the second of each ``(scale, ratio)``, rising with the
    scale) reaches 1, interpolated linearly in log scale between the two tries around it; the
    first scale when even it reaches 1, the last when none does."""
    if tried[0][1] >= 1 or len(tried) == 1:
        return tried[0][0] if tried[0][1] >= 1 else tried[-1][0]
    (low, low_ratio), (high, high_ratio) = tried[-2], tried[-1]
    if high_ratio < 1 or high_ratio <= low_ratio:
        return high
    fraction = (1 - low_ratio) / (high_ratio - low_ratio)
    return float(math.exp(math.log(low) + fraction * (math.log(high) - math.log(low))))


class SpectralSounds:
    """The playing part of :class:`~synth_core.models.spectral.model.SpectralAutoencoder`.

    A mixin over the model's network (``encode_spectrum``, ``decode``, ``render``) and its
    training latents; its one state is the slider axes, ``self.axes``.
    """

    config: SpectralConfig
    family: str
    sample_rate: int
    axes: latent.LatentAxes
    bin_mean: Tensor
    pitched: Tensor
    train_pitches: Tensor
    train_latents: Tensor
    train_texture: Tensor
    novelty_scale: Tensor

    def fit_sliders(self, clips: ClipSet) -> None:
        """The sliders' axes: PCA of the training latents, named by the clips' descriptors."""
        values = dsp.descriptors(clips.audio, clips.sample_rate, clips.pitch)
        self.axes = latent.fit_axes(self.train_latents, {k: v.cpu() for k, v in values.items()})

    def values_from_audio(self, audio: Tensor) -> dict[str, float] | None:
        """The latent-axis sliders at the encoding of ``audio`` ``[samples]``, and ``variation``
        and ``novelty`` at 0 so the sliders alone decide the sound."""
        audio = audio.reshape(1, -1)
        pitch = None
        if bool(self.pitched):  # as reconstruct does: the pitch the sound is heard at
            pitch = dsp.hz_to_midi(dsp.f0_hz(self._fit_length(audio), self.sample_rate))
        with torch.no_grad():
            coords = self.axes.to_coords(self.encode(audio, pitch=pitch))[0]
        values = {}
        for control in self.controls():
            if control.name.startswith("axis_"):
                values[control.name] = float(coords[int(control.name.split("_", 1)[1]) - 1])
            elif control.name in (latent.VARIATION.name, latent.NOVELTY.name):
                values[control.name] = 0.0
        return values

    def controls(self) -> list[Control]:
        shown = latent.axis_controls(self.axes, self.config.n_controls) + [latent.VARIATION]
        shown += [latent.NOVELTY] if self.draws_new_sounds else []
        return shown + ([GRAIN] if self._has_texture() else [])

    @property
    def draws_new_sounds(self) -> bool:
        """True once :meth:`fit_novelty` has measured how far new sounds should move (models
        saved before it existed play only variations of training sounds, as they did)."""
        return float(self.novelty_scale) > 0 and self.train_latents.shape[0] >= 2

    def novelty_amount(self, values: Mapping[str, float]) -> float:
        """The ``novelty`` slider in the units of :func:`synth_core.latent.novelty_offset`."""
        if not self.draws_new_sounds:
            return 0.0
        return float(values.get(latent.NOVELTY.name, latent.NOVELTY.default)) * float(
            self.novelty_scale
        )

    @torch.no_grad()
    def fit_novelty(self, clips: ClipSet) -> None:
        """Measure the ``novelty_scale`` at which new sounds lie as far from the training sounds
        as a new recording of the same kind does (``novelty`` 1).

        "As far as a new recording" is read from the training clips themselves: the median
        distance, in standardised log-mel statistics (:func:`synth_core.metrics.
        log_mel_statistics`), from each training clip to its nearest other training clip. New
        sounds are drawn and rendered at doubling scales until the median distance from each to
        its nearest training clip reaches that; the scale is then interpolated (log-linear)
        between the last two. Without this, a draw that starts from a training sound and moves a
        little is a near copy (memorisation ratio about 0.6 on real drums).
        """
        from synth_core import metrics

        self.novelty_scale.fill_(0.0)
        count = self.train_latents.shape[0]
        if count < 3:
            return
        train = metrics.log_mel_statistics(clips.audio, self.sample_rate).double()
        mean, std = train.mean(0), train.std(0).clamp_min(1e-8)
        train = (train - mean) / std
        reference = float(latent.nearest_distances(train).median())
        if not reference > 0:
            return
        draws = min(NOVELTY_DRAWS, count)
        scale, tried = NOVELTY_FIRST_SCALE, []
        for _ in range(NOVELTY_TRIES):
            self.novelty_scale.fill_(scale)
            audio = self.generate(n=draws, seed=NOVELTY_SEED)
            near = metrics.log_mel_statistics(audio, self.sample_rate).double()
            ratio = float(torch.cdist((near - mean) / std, train).min(-1).values.median())
            tried.append((scale, ratio / reference))
            if ratio >= reference:
                break
            scale *= 2
        self.novelty_scale.fill_(interpolate_scale(tried))
        log.info(
            "novelty: scale %.3g (tried %s)",
            float(self.novelty_scale),
            ", ".join(f"{scale:.3g} → {ratio:.2f}" for scale, ratio in tried),
        )

    @torch.no_grad()
    def encode(self, audio: Tensor, *, pitch: Tensor | None = None) -> Tensor:
        """Latent means ``[n, latent_dim]`` of ``audio`` ``[n, samples]``."""
        spec = self.analyse(self._fit_length(audio).to(self.bin_mean.device), pitch)
        mean, _ = self.encode_spectrum(spec, self._conditioning(pitch, spec.shape[0]))
        return mean

    @torch.no_grad()
    def decode_latents(self, latents: Tensor, *, pitch: Tensor | None = None) -> Tensor:
        """Audio ``[n, samples]`` from latents ``[n, latent_dim]`` (decoder, then renderer); a
        pitch-conditioned model plays at ``pitch`` (MIDI ``[n]``), else at the training
        pitches' median."""
        z = latents.to(self.bin_mean.device, torch.float32).reshape(latents.shape[0], -1)
        if bool(self.pitched) and pitch is None:
            known = self.train_pitches[torch.isfinite(self.train_pitches)]
            middle = float(known.median()) if known.numel() else 60.0
            pitch = torch.full((z.shape[0],), middle)
        return safe_audio(self.render(self.decode(z, pitch), pitch)).cpu()

    @torch.no_grad()
    def reconstruct(self, audio: Tensor, *, pitch: Tensor | None = None) -> Tensor:
        """Encode and decode ``audio`` ``[n, samples]``; ``pitch`` (MIDI ``[n]``) helps a
        pitch-conditioned model, estimated from the audio when not given."""
        audio = self._fit_length(audio).to(self.bin_mean.device)
        if audio.shape[0] == 0:
            return torch.zeros(0, self.config.clip_samples)
        if bool(self.pitched) and pitch is None:
            pitch = dsp.hz_to_midi(dsp.f0_hz(audio, self.sample_rate))
        spec = self.analyse(audio, pitch)
        z = self.refine(spec, pitch, steps=self.config.refine_steps)
        out = self.render(
            self.decode(z, pitch), pitch, iterations=self.config.reconstruct_iterations
        )
        return safe_audio(out).cpu()

    def refine(self, spec: Tensor, pitch: Tensor | None, *, steps: int) -> Tensor:
        """Latents ``[n, latent_dim]`` for standardised spectra ``[n, bins, frames]``: the
        encoder's, then ``steps`` Adam steps on them (weights frozen) against the input.

        An encoder trained for CPU-minutes on a few hundred clips lands near, not on, the latent
        that its own decoder would need for a new sound (the "amortisation gap", Cremer et al.,
        2018; refining it by gradient steps is semi-amortised inference, Kim et al., 2018). The
        target is the training loss's log-magnitude L1 plus spectral convergence of the linear
        magnitude, which weights the loud partials that a listener (and that metric) hears first.

        Only reconstruction refines: new sounds are drawn between the encoder's latents of the
        training clips, which stay on the decoder's manifold.
        Measured: docs/experiments/spectral-reconstruction.md.
        """
        with torch.no_grad():
            z, _ = self.encode_spectrum(spec, self._conditioning(pitch, spec.shape[0]))
            if steps <= 0:
                return z
            target = self.magnitude_of(spec)
            target_norm = target.flatten(1).norm(dim=-1).clamp_min(1e-6)
        z = z.clone().requires_grad_(True)
        # Adam (Kingma and Ba, 2015) with torch's defaults, written out: constructing a torch
        # optimiser imports torch._dynamo, 3.4 s that the first reconstruction in a process
        # would otherwise wait for
        rate, beta1, beta2, eps = float(self.config.refine_rate), 0.9, 0.999, 1e-8
        mean, square = torch.zeros_like(z), torch.zeros_like(z)
        with torch.enable_grad():  # callers such as ``reconstruct`` run under no_grad
            for t in range(1, int(steps) + 1):
                out = self.decode(z, pitch)
                convergence = (self.magnitude_of(out) - target).flatten(1).norm(dim=-1)
                loss = (out - spec).abs().mean() + (convergence / target_norm).mean()
                # the gradient of z alone: the weights' .grad stay untouched
                (grad,) = torch.autograd.grad(loss, z)
                with torch.no_grad():
                    mean.mul_(beta1).add_(grad, alpha=1 - beta1)
                    square.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    denom = (square.sqrt() / math.sqrt(1 - beta2**t)).add_(eps)
                    z.addcdiv_(mean, denom, value=-rate / (1 - beta1**t))
        return z.detach()

    def draw_latents(
        self, values: Mapping[str, float], *, n: int, seed: int | None, generator: torch.Generator
    ) -> tuple[Tensor, Tensor | None]:
        """``n`` latents for new sounds and the training sound each was drawn near (None
        before training has fitted its latents): a neighbour draw moved by the sliders."""
        if self.train_latents.shape[0] == 0:  # the prior
            coords = latent.coords_from_values(
                values, self.axes.components.shape[0], n=n, generator=generator
            )
            return self.axes.to_latent(coords).to(self.bin_mean.device), None
        starts = latent.seeded_anchors(self.train_latents.shape[0], seed, n, generator)
        z, anchors = latent.neighbour_draw(
            self.train_latents, self.axes, values, n=n, generator=generator, anchors=starts
        )
        amount = self.novelty_amount(values)
        offset = latent.novelty_offset(self.train_latents, self.axes, anchors, amount, generator)
        return z + offset, anchors

    @torch.no_grad()
    def generate(
        self,
        values: Mapping[str, float] | None = None,
        *,
        n: int = 1,
        seed: int | None = None,
        pitch: float | None = None,
    ) -> Tensor:
        """``n`` sounds ``[n, samples]``: each seed draws a latent near the training latents and
        the sliders move it along the PCA axes (:func:`synth_core.latent.neighbour_draw`); at
        ``pitch`` (MIDI) or at pitches drawn from the training labels."""
        if n < 1:
            raise ModelConfigError(f"n must be at least 1, got {n}")
        resolved = resolve_values(self.controls(), values)
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        if generator is None:
            generator = torch.Generator()
            generator.seed()
        z, anchors = self.draw_latents(resolved, n=n, seed=seed, generator=generator)
        pitches = None
        if bool(self.pitched):
            if pitch is not None:
                if not 0 <= float(pitch) <= 127:
                    raise ModelConfigError(f"pitch {pitch} is outside MIDI 0–127")
                pitches = torch.full((n,), float(pitch))
            elif anchors is not None and self.train_pitches.numel() == self.train_latents.shape[0]:
                pitches = self.train_pitches.cpu()[anchors]  # the pitch of the sound drawn near
            elif self.train_pitches.numel() > 0:
                pick = torch.randint(0, self.train_pitches.numel(), (n,), generator=generator)
                pitches = self.train_pitches.cpu()[pick]
        elif pitch is not None:
            raise ModelConfigError(
                f"this {self.family} model was trained without pitch labels, so --pitch "
                "cannot set its pitch (name files like kick__p036.wav to label them)"
            )
        spec = self.decode(z, pitches)
        jitter = None
        if anchors is not None and self._has_texture():
            sigma = self.train_texture[anchors.to(self.train_texture.device)] * resolved["grain"]
            jitter = self.texture_jitter(sigma, spec.shape[-1], generator)
        return safe_audio(self.render(spec, pitches, jitter=jitter)).cpu()
