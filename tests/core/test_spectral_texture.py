"""New sounds from the spectral families (vae, cnn) get back the grain that their decoder and
renderer smooth away (``SpectralAutoencoder.fit_texture`` and ``texture_jitter``)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from synth_core.dataset import ClipSet
from synth_core.errors import ModelConfigError
from synth_core.models.vae import VAEConfig, VAEModel

RATE = 22050
SECONDS = 0.5
BANDS = 16


def _noise_and_tones(count: int) -> tuple[ClipSet, torch.Tensor]:
    """Decaying white-noise bursts (even clips) and decaying harmonic tones with partials up to
    the Nyquist frequency, so every band has steady content (odd clips); which clips are
    noise."""
    generator = torch.Generator().manual_seed(3)
    t = torch.arange(int(RATE * SECONDS)) / RATE
    clips = []
    for i in range(count):
        if i % 2 == 0:
            clips.append(0.3 * torch.randn(t.shape, generator=generator) * torch.exp(-4 * t))
        else:
            f0 = 220.0 + 30 * i
            partials = torch.arange(1, int(RATE / 2 / f0) + 1)[:, None]
            tone = (torch.sin(2 * math.pi * f0 * partials * t) / partials).sum(0)
            clips.append(0.2 * tone * torch.exp(-4 * t))
    audio = torch.stack(clips)
    noisy = torch.arange(count) % 2 == 0
    pitch = torch.full((count,), float("nan"))
    return ClipSet(audio, pitch, [f"c{i}" for i in range(count)], RATE), noisy


def _fit(clips: ClipSet) -> VAEModel:
    """An untrained vae: its decoder is the linear part alone (4 PCA components), as smooth a
    decoder as there is; ``end`` fits its latents, axes and texture."""
    config = VAEConfig(
        sample_rate=RATE,
        clip_seconds=SECONDS,
        channels=8,
        latent_channels=2,
        n_controls=2,
        pca_components=4,
        refine_steps=0,
        render_iterations=4,
        texture_bands=BANDS,
    )
    torch.manual_seed(0)
    model = VAEModel.from_config(config)
    model.begin(clips)
    model.eval()
    model.end(clips)
    return model


@pytest.fixture(scope="module")
def fitted():
    clips, noisy = _noise_and_tones(12)
    return _fit(clips), clips, noisy


def test_noise_gets_grain_back_and_clean_tones_get_little(fitted):
    model, _, noisy = fitted
    texture = model.train_texture
    assert texture.shape == (12, BANDS) and bool(torch.isfinite(texture).all())
    upper = slice(BANDS // 2, None)
    assert float(texture[noisy][:, upper].mean()) > 3 * float(texture[~noisy][:, upper].mean())


def test_rendered_with_texture_noise_flickers_as_the_real_noise_does():
    clips, noisy = _noise_and_tones(24)
    noise = ClipSet(clips.audio[noisy] * torch.linspace(0.3, 1.5, 12)[:, None], clips.pitch[noisy],
                    clips.paths[:12], RATE)  # fmt: skip
    model = _fit(noise)
    upper = slice(BANDS // 2, None)
    real = model._change_std(noise.audio)[:, upper]
    smooth = model._change_std(model._render_training(None))[:, upper]
    grain = model._change_std(model._render_training(model.train_texture))[:, upper]
    assert float(smooth.mean()) < float(real.mean()), "no grain lost: this would show nothing"
    before, after = (smooth - real).abs().mean(), (grain - real).abs().mean()
    assert float(after) < 0.7 * float(before), (before, after)


def test_jitter_keeps_the_mean_power_of_every_bin(fitted):
    model, _, _ = fitted
    sigma = torch.full((1, BANDS), 0.5)
    log_gain = model.texture_jitter(sigma, 20000, torch.Generator().manual_seed(0))[0]
    power_gain = torch.exp(2 * log_gain).mean(-1)
    assert bool(((power_gain - 1).abs() < 0.1).all()), power_gain
    assert float(log_gain.std(-1).max()) > 0.2  # and it does move the bins


def test_a_model_saved_before_texture_existed_loads_and_plays_without_it(fitted):
    model, _, _ = fitted
    state = {k: v.clone() for k, v in model.state().items()}
    del state["train_texture"]
    old = VAEModel.from_config(model.config)
    old.load_state(state)
    assert old.train_texture.shape == (0, BANDS)
    again = VAEModel.from_config(dataclasses.replace(model.config, texture_bands=0))
    state["train_texture"] = torch.zeros(12, 0)
    again.load_state(state)
    old.eval()
    again.eval()
    assert torch.equal(old.generate(n=2, seed=7), again.generate(n=2, seed=7))
    assert not torch.equal(old.generate(n=2, seed=7), model.generate(n=2, seed=7))


def test_the_grain_slider_scales_the_texture_and_zero_is_smooth(fitted):
    model, _, _ = fitted
    assert "grain" in [c.name for c in model.controls()]
    # seed 0 starts from noisy training sounds; a draw anchored on a clean tone has almost no
    # grain to scale (seed 3 does, here: both its draws land on tones)
    smooth = model.generate({"grain": 0.0}, n=2, seed=0)
    saved = model.train_texture
    try:
        model.train_texture = torch.zeros(0, BANDS)
        assert "grain" not in [c.name for c in model.controls()]
        assert torch.equal(smooth, model.generate(n=2, seed=0))
    finally:
        model.train_texture = saved
    normal = model.generate(n=2, seed=0)
    strong = model.generate({"grain": 2.0}, n=2, seed=0)
    assert (strong - smooth).abs().mean() > (normal - smooth).abs().mean() > 0


def test_a_harmonic_models_grain_lands_in_the_band_it_was_measured_in():
    """On the harmonic axis a bin is a different frequency for every pitch; the texture is
    measured in bands of heard frequency, so it must be added after the stretch back. Added
    before it, a low note's grain for the band near 7 kHz came out near 3.5 kHz."""
    t = torch.arange(int(RATE * SECONDS)) / RATE
    pitches = torch.tensor([48.0, 55.0, 60.0, 67.0] * 3)
    f0 = 440.0 * 2 ** ((pitches[:, None] - 69) / 12)
    tones = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 40))
    audio = 0.1 * (
        tones + 0.5 * torch.randn(tones.shape, generator=torch.Generator().manual_seed(1))
    )
    clips = ClipSet(audio * torch.exp(-3 * t), pitches, [f"n{i}" for i in range(12)], RATE)
    model = _fit(clips)
    assert model.harmonic
    band = 13  # of 16 mel bands up to 11 kHz: about 6.3–8.5 kHz
    model.train_texture = torch.zeros(12, BANDS)
    model.train_texture[:, band] = 0.8
    low = dict(n=8, seed=0, pitch=48.0)
    smooth = model._change_std(model.generate({"grain": 0.0}, **low)).mean(0)
    grainy = model._change_std(model.generate({"grain": 1.0}, **low)).mean(0)
    gained = grainy - smooth
    assert abs(int(gained.argmax()) - band) <= 1, gained
    assert float(gained[band]) > 3 * float(gained[: band - 2].abs().max()), gained


def test_a_texture_band_count_out_of_range_is_named():
    with pytest.raises(ModelConfigError, match="texture_bands 500 is outside 0–128"):
        VAEConfig(texture_bands=500).validate()
    VAEConfig(texture_bands=0).validate()  # 0: no texture
