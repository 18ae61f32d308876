"""Reconstruction by the spectral families (vae, cnn): the encoder's latent refined by gradient
steps against the input, and the peak limiter every model's output goes through."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from synth_core import dsp
from synth_core.dataset import ClipSet
from synth_core.models.base import safe_audio
from synth_core.models.cnn import CNNModel
from synth_core.models.spectral import SpectralConfig
from synth_core.models.vae import VAEConfig, VAEModel
from synth_core.train import Budget, Trainer

RATE = 22050
SECONDS = 0.25


def _clips(count: int, offset: float = 0.0, seed: int = 0) -> ClipSet:
    """Decaying two-partial tones with a little noise, one per semitone from MIDI 50 + offset."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(RATE * SECONDS)) / RATE
    notes = torch.arange(count) + 50.0 + offset
    f0 = dsp.midi_to_hz(notes)[:, None]
    tones = torch.sin(2 * math.pi * f0 * t) + 0.5 * torch.sin(2 * math.pi * 3 * f0 * t)
    noise = 0.05 * torch.randn(tones.shape, generator=generator)
    audio = 0.4 * (tones + noise) * torch.exp(-8 * t)
    return ClipSet(audio, notes, [f"c{i}" for i in range(count)], RATE)


@pytest.fixture(scope="module", params=[CNNModel, VAEModel])
def trained(request):
    model_class = request.param
    config_class = VAEConfig if model_class is VAEModel else SpectralConfig
    config = config_class(
        sample_rate=RATE,
        clip_seconds=SECONDS,
        channels=32,
        latent_channels=4,
        n_controls=2,
        pca_components=4,
        batch_size=4,
        learning_rate=3e-3,
        refine_steps=0,
    )
    torch.manual_seed(0)
    model = model_class.from_config(config)
    Trainer(model, _clips(12), Budget(steps=150), device="cpu").run()
    return model


def _with(model, **changes):
    model.config = dataclasses.replace(model.config, **changes)
    return model


def _spectral_convergence(model, spec, z, pitch) -> float:
    target = model.magnitude_of(spec)
    error = model.magnitude_of(model.decode(z, pitch)) - target
    return float((error.flatten(1).norm(dim=-1) / target.flatten(1).norm(dim=-1)).mean())


def test_refining_the_latent_brings_a_new_sound_closer_than_the_encoder_alone(trained):
    unseen = _clips(4, offset=4.4, seed=1)  # between the training pitches, other noise
    spec = trained.analyse(trained._fit_length(unseen.audio), unseen.pitch)
    with torch.no_grad():
        encoder_only = trained.refine(spec, unseen.pitch, steps=0)
        refined = trained.refine(spec, unseen.pitch, steps=60)
        before = _spectral_convergence(trained, spec, encoder_only, unseen.pitch)
        after = _spectral_convergence(trained, spec, refined, unseen.pitch)
    assert after < 0.8 * before, (before, after)
    # and reconstruct() renders the refined latent
    audio = _with(trained, refine_steps=60, reconstruct_iterations=8).reconstruct(
        unseen.audio, pitch=unseen.pitch
    )
    rendered = trained.render(trained.decode(refined, unseen.pitch), unseen.pitch, iterations=8)
    assert torch.allclose(audio, safe_audio(rendered), atol=1e-5)


def test_refining_leaves_the_weights_and_their_gradients_alone(trained):
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    grads = [None if p.grad is None else p.grad.clone() for p in trained.parameters()]
    _with(trained, refine_steps=5).reconstruct(_clips(2, offset=3.0).audio)
    for name, value in trained.state_dict().items():
        assert torch.equal(value, before[name]), name
    for parameter, grad in zip(trained.parameters(), grads, strict=True):
        assert (parameter.grad is None) == (grad is None)
        assert grad is None or torch.equal(parameter.grad, grad)


def test_refined_reconstruction_is_deterministic(trained):
    audio = _clips(2, offset=5.0).audio
    model = _with(trained, refine_steps=5)
    assert torch.equal(model.reconstruct(audio), model.reconstruct(audio))


def test_limiter_turns_down_only_the_moment_that_goes_over():
    t = torch.arange(RATE) / RATE
    audio = 0.5 * torch.sin(2 * math.pi * 220 * t)
    audio[RATE // 2] = 3.0  # one click in the middle
    limited = safe_audio(audio[None])[0]
    assert float(limited.abs().max()) <= 1.0
    far = (t - 0.5).abs() > 0.03  # further than 30 ms (7 blocks of 64 samples) from the click
    assert torch.equal(limited[far], audio[far])  # a normaliser would have turned it all down 3×
    assert float(limited[RATE // 2]) > 0.9  # the click itself is limited, not removed


def test_limiter_passes_quiet_audio_through_and_cleans_non_finite_values():
    quiet = 0.5 * torch.randn(2, 1000).clamp(-1, 1)
    assert torch.equal(dsp.peak_limit(quiet), quiet)
    broken = torch.tensor([[0.1, float("nan"), float("inf"), -2.0, 0.2]])
    limited = safe_audio(broken)
    assert torch.isfinite(limited).all() and float(limited.abs().max()) <= 1.0


@pytest.mark.parametrize("samples", [1, 63, 64, 65, 1000])
def test_limiter_holds_the_ceiling_at_every_length(samples):
    generator = torch.Generator().manual_seed(samples)
    loud = 4 * torch.randn(3, samples, generator=generator)
    limited = dsp.peak_limit(loud, 0.8)
    assert limited.shape == loud.shape and float(limited.abs().max()) <= 0.8 + 1e-6
    assert (limited.sign() == loud.sign()).all()  # turned down, never inverted


def test_an_empty_batch_reconstructs_to_an_empty_batch(trained):
    rebuilt = trained.reconstruct(torch.zeros(0, 1000))
    assert rebuilt.shape == (0, trained.config.clip_samples)
