"""The evaluation numbers behave as their definitions promise, on clip sets with known answers."""

from __future__ import annotations

import math

import torch

from synth_core import metrics

RATE = 22050


def tones(freqs: list[float], noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(RATE // 2) / RATE
    clips = [
        (torch.sin(2 * math.pi * f * t) + noise * torch.randn(t.shape, generator=generator))
        * torch.exp(-6 * t)
        * 0.4
        for f in freqs
    ]
    return torch.stack(clips)


def test_reconstruction_distances_are_zero_for_a_perfect_copy_and_grow_with_damage():
    clean = tones([220, 330, 440])
    slightly = clean + 0.001 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    badly = clean + 0.05 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))
    assert float(metrics.mr_stft_distance(clean, clean).max()) < 1e-6
    assert bool(
        (metrics.mr_stft_distance(clean, slightly) < metrics.mr_stft_distance(clean, badly)).all()
    )
    sc_slight = metrics.spectral_convergence_db(clean, slightly)
    sc_bad = metrics.spectral_convergence_db(clean, badly)
    assert bool((sc_slight < sc_bad).all()) and bool((sc_slight < -20).all())
    assert float(metrics.log_spectral_distance(clean, clean).max()) < 1e-4
    assert bool((metrics.log_spectral_distance(clean, badly) > 1).all())


def test_pitch_error_of_a_tone_ten_cents_sharp_is_ten_cents():
    midi = torch.tensor([57.0, 64.0])
    hz = 440 * 2 ** ((midi + 0.1 - 69) / 12)
    cents = metrics.pitch_error_cents(tones(hz.tolist()), midi, RATE)
    assert torch.allclose(cents, torch.tensor([10.0, 10.0]), atol=3.0)


def test_one_nn_accuracy_is_near_chance_for_one_distribution_and_one_for_two():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(60, 8, generator=generator), torch.randn(60, 8, generator=generator)
    assert 0.3 <= metrics.one_nn_accuracy(a, b) <= 0.7
    assert metrics.one_nn_accuracy(a, b + 10) == 1.0


def test_frechet_distance_is_zero_for_the_same_set_and_grows_with_a_shift():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(200, 4, generator=generator)
    assert metrics.frechet_distance(a, a) < 1e-6
    assert metrics.frechet_distance(a, a + 0.5) < metrics.frechet_distance(a, a + 2.0)
    # a shift of 2 standard deviations in each of 4 features: |Δμ|² = 16
    assert abs(metrics.frechet_distance(a, a + 2.0 * a.std(0)) - 16) < 1.0


def test_clip_features_tell_tones_from_noise():
    features = metrics.clip_features(torch.cat([tones([300] * 4), tones([300] * 4, 3.0)]), RATE)
    assert features.shape == (8, 2 * 64 + 2 * 64 + 32 + 2)
    assert bool(torch.isfinite(features).all())
    assert metrics.one_nn_accuracy(features[:4], features[4:]) == 1.0
