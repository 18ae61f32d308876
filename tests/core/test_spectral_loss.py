"""The spectral families' loss terms: the log-mel term weighs each band by its loud partials."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from synth_core import dsp
from synth_core.dataset import ClipSet
from synth_core.errors import ModelConfigError
from synth_core.models.base import Batch
from synth_core.models.spectral.learning import mel_bank, mel_loss
from synth_core.models.vae import VAEConfig, VAEModel

RATE = 22050


def _tone(partial_gain: float, floor_noise: float, seed: int) -> torch.Tensor:
    """One second of 440 Hz with its third partial at ``partial_gain``, over faint noise."""
    t = torch.arange(RATE) / RATE
    noise = torch.randn(RATE, generator=torch.Generator().manual_seed(seed))
    tone = torch.sin(2 * math.pi * 440 * t) + partial_gain * torch.sin(2 * math.pi * 1320 * t)
    return 0.3 * tone + floor_noise * noise


def test_the_mel_term_hears_a_loud_partial_and_not_the_pattern_of_the_quiet_bins():
    bank = mel_bank(RATE, 1024, torch.device("cpu"))
    mag = lambda audio: dsp.magnitude(audio[None], n_fft=1024, hop=256)  # noqa: E731
    reference = mag(_tone(0.5, 1e-4, seed=0))
    other_noise = mag(_tone(0.5, 1e-4, seed=1))  # the same sound, another noise pattern
    other_partial = mag(_tone(0.1, 1e-4, seed=0))  # the third partial 14 dB quieter
    assert mel_loss(reference, reference, bank) == 0

    def per_bin(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((torch.log(a + 1e-5) - torch.log(b + 1e-5)).abs().mean())

    # the per-bin log loss counts the new noise pattern more than the partial 14 dB down
    # (measured: 0.57 against 0.17); the mel term counts the partial more (0.43 against 0.25)
    assert per_bin(other_noise, reference) > per_bin(other_partial, reference)
    loud = float(mel_loss(other_partial, reference, bank))
    quiet = float(mel_loss(other_noise, reference, bank))
    assert loud > quiet
    ratio_per_bin = per_bin(other_partial, reference) / per_bin(other_noise, reference)
    assert loud / quiet > 3 * ratio_per_bin


def test_a_vae_with_mel_weight_learns_with_the_term_and_reports_it():
    config = VAEConfig(sample_rate=RATE, clip_seconds=0.25, channels=16, latent_channels=2,
                       n_controls=2, pca_components=4, batch_size=4, mel_weight=1.0)  # fmt: skip
    torch.manual_seed(0)
    model = VAEModel.from_config(config)
    audio = torch.stack([_tone(g, 1e-3, seed=i)[: RATE // 4] for i, g in enumerate((0.2, 0.8))])
    pitch = torch.full((2,), float("nan"))
    model.begin(ClipSet(audio, pitch, ["a", "b"], RATE))
    batch = Batch(audio=audio, pitch=pitch)
    first = model.step(batch)
    assert first["mel"] > 0
    terms = model.losses(batch)
    weighted = float(model.total(terms).detach())
    model.config = dataclasses.replace(config, mel_weight=0.0)
    assert weighted - float(model.total(terms).detach()) == pytest.approx(
        float(terms["mel"].detach()), rel=1e-5
    )
    with pytest.raises(ModelConfigError, match="mel_weight"):
        VAEConfig(mel_weight=-1.0).validate()
