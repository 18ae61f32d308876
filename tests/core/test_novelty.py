"""New sounds or variations: the ``novelty`` control of the spectral families (vae, cnn, gan).

``novelty_offset`` is a kernel density draw around the training latents, and ``fit_novelty``
measures after training how far it must reach for new sounds to lie as far from the training
sounds as a new recording does (issue 18: anchored draws were near copies).
"""

from __future__ import annotations

import math

import pytest
import torch

from synth_core import latent, metrics
from synth_core.dataset import ClipSet
from synth_core.models.spectral.sounds import interpolate_scale
from synth_core.models.vae import VAEConfig, VAEModel

RATE = 22050
SECONDS = 0.5


def _axes(latents: torch.Tensor) -> latent.LatentAxes:
    values = {
        "brightness": torch.randn(latents.shape[0], generator=torch.Generator().manual_seed(1))
    }
    return latent.fit_axes(latents, values)


def test_novelty_zero_adds_nothing_and_draws_no_random_numbers() -> None:
    latents = torch.randn(20, 6, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(5)
    offset = latent.novelty_offset(latents, _axes(latents), torch.arange(4), 0.0, generator)
    assert torch.equal(offset, torch.zeros(4, 6))
    assert torch.equal(
        torch.rand(3, generator=generator),
        torch.rand(3, generator=torch.Generator().manual_seed(5)),
    )


def test_novelty_one_moves_about_as_far_as_the_nearest_other_training_latent() -> None:
    latents = torch.randn(40, 5, generator=torch.Generator().manual_seed(0)) * torch.tensor(
        [4.0, 2.0, 1.0, 0.5, 0.25]
    )
    axes = _axes(latents)
    anchors = torch.arange(40).repeat(100)
    offset = latent.novelty_offset(latents, axes, anchors, 1.0, torch.Generator().manual_seed(2))
    moved = axes.to_coords(latents[anchors] + offset) - axes.to_coords(latents[anchors])
    reach = latent.nearest_distances(axes.to_coords(latents))[anchors]
    # E|noise| for a K-dimensional Gaussian with per-axis σ = reach/√K is reach·√(1 − 1/(4K))…
    ratio = float((moved.norm(dim=-1) / reach).mean())
    assert 0.85 < ratio < 1.05
    # …and twice the amount reaches twice as far
    double = latent.novelty_offset(latents, axes, anchors, 2.0, torch.Generator().manual_seed(2))
    assert torch.allclose(double, 2 * offset, atol=1e-5)


@pytest.mark.parametrize(
    ("tried", "expected"),
    [
        ([(0.0625, 1.3)], 0.0625),  # even the smallest scale is far enough
        ([(0.0625, 0.5), (0.125, 0.7), (0.25, 1.1)], 0.125 * 2 ** (0.3 / 0.4)),
        ([(0.0625, 0.2), (0.125, 0.3)], 0.125),  # never far enough: the largest tried
    ],
)
def test_the_scale_is_interpolated_where_the_ratio_reaches_one(tried, expected) -> None:
    assert interpolate_scale(tried) == pytest.approx(expected)


def _clips(count: int) -> ClipSet:
    """Decaying harmonic tones of many pitches and brightnesses, some with noise."""
    generator = torch.Generator().manual_seed(3)
    t = torch.arange(int(RATE * SECONDS)) / RATE
    clips = []
    for i in range(count):
        f0 = 110.0 * 2 ** (i / 7)
        partials = torch.arange(1, 12)[:, None]
        tone = (torch.sin(2 * math.pi * f0 * partials * t) / partials ** (1 + (i % 3) / 2)).sum(0)
        noise = (i % 4 == 0) * 0.3 * torch.randn(t.shape, generator=generator)
        clips.append(0.2 * (tone + noise) * torch.exp(-(2 + i % 5) * t))
    return ClipSet(
        torch.stack(clips),
        torch.full((count,), float("nan")),
        [f"c{i}" for i in range(count)],
        RATE,
    )


def _fitted(clips: ClipSet, pca_components: int, render_iterations: int) -> VAEModel:
    """An untrained tiny vae whose ``end`` has fitted latents, axes and novelty to ``clips``."""
    config = VAEConfig(
        sample_rate=RATE, clip_seconds=SECONDS, channels=8, latent_channels=2, n_controls=2,
        pca_components=pca_components, refine_steps=0, render_iterations=render_iterations,
        texture_bands=0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = VAEModel.from_config(config)
    model.begin(clips)
    model.eval()
    model.end(clips)
    return model


def test_a_fitted_model_draws_new_sounds_further_from_the_training_sounds_than_variations() -> None:
    clips = _clips(24)
    model = _fitted(clips, pca_components=8, render_iterations=4)
    assert model.draws_new_sounds and float(model.novelty_scale) > 0
    assert "novelty" in [control.name for control in model.controls()]

    train = metrics.log_mel_statistics(clips.audio, RATE)

    def nearest(values: dict[str, float]) -> float:
        audio = model.generate(values, n=24, seed=11)
        near = metrics.log_mel_statistics(audio, RATE)
        mean, std = train.mean(0), train.std(0).clamp_min(1e-8)
        return float(torch.cdist((near - mean) / std, (train - mean) / std).min(-1).values.median())

    variations, new = nearest({"novelty": 0.0}), nearest({"novelty": 1.0})
    assert new > 1.2 * variations
    # the same seed and values give the same sound
    assert torch.equal(
        model.generate({"novelty": 1.0}, n=2, seed=4), model.generate({"novelty": 1.0}, n=2, seed=4)
    )


def test_a_model_saved_before_novelty_plays_variations_as_it_did() -> None:
    clips = _clips(12)
    model = _fitted(clips, pca_components=4, render_iterations=2)
    config = model.config
    old = {k: v for k, v in model.state().items() if k != "novelty_scale"}
    loaded = VAEModel.from_config(config)
    loaded.load_state(old)
    assert not loaded.draws_new_sounds
    assert "novelty" not in [control.name for control in loaded.controls()]
    before = model.generate({"novelty": 0.0}, n=2, seed=1)
    assert torch.equal(loaded.generate(None, n=2, seed=1), before)


def test_generate_variations_is_novelty_zero_and_refused_where_there_is_none(tmp_path) -> None:
    """``timbrelab generate --variations`` writes what ``--set novelty=0`` writes; a model
    without a novelty control refuses it as a usage error (exit 2) before writing anything."""
    import soundfile

    from synth_core import cli

    for name, extra in (("flag", ["--variations"]), ("set", ["--set", "novelty=0"])):
        argv = ["generate", "builtin-vae", "--n", "1", "--seed", "3", "--out", str(tmp_path / name)]
        assert cli.main(argv + extra) == 0
    flag, _ = soundfile.read(tmp_path / "flag" / "0000.wav")
    same, _ = soundfile.read(tmp_path / "set" / "0000.wav")
    assert (flag == same).all()
    argv = ["generate", "builtin-vae", "--n", "1", "--seed", "3", "--out", str(tmp_path / "new")]
    assert cli.main(argv) == 0
    new, _ = soundfile.read(tmp_path / "new" / "0000.wav")
    assert not (new == flag).all()

    out = tmp_path / "physical"
    assert cli.main(["generate", "physical:string", "--variations", "--out", str(out)]) == 2
    assert not out.exists()
