"""The partials-plus-noise synthesiser and its analysis, checked against signals we know exactly."""

from __future__ import annotations

import math

import pytest
import torch

from synth_core import ddsp
from synth_core.errors import ModelConfigError

SR = 44100
SETTINGS = ddsp.DDSPSettings(sample_rate=SR)


def _decaying_tone(freqs_amps: list[tuple[float, float]], *, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(SR * seconds), dtype=torch.float64) / SR
    tone = sum(a * torch.sin(2 * math.pi * f * t) for f, a in freqs_amps)
    return (tone * torch.exp(-3.0 * t)).float()


def test_constant_partial_renders_an_exact_sine() -> None:
    samples = 3 * SR  # long enough that float32 phase accumulation would drift audibly
    frames_count = SETTINGS.n_frames(samples)
    frames = ddsp.Frames(
        f0_hz=torch.tensor([441.0]),
        ratios=torch.tensor([[1.0]]),
        amplitudes=torch.full((1, frames_count, 1), 0.5),
        noise=torch.zeros(1, frames_count, SETTINGS.n_bands),
    )
    settings = ddsp.DDSPSettings(sample_rate=SR, n_partials=1)
    generator = torch.Generator().manual_seed(3)
    audio = ddsp.synthesize(frames, samples, settings, generator=generator)[0].double()
    phase0 = torch.rand(1, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    n = torch.arange(samples, dtype=torch.float64)
    expected = 0.5 * torch.sin(2 * math.pi * (441.0 * n / SR + phase0[0, 0]))
    assert torch.max((audio - expected).abs()) < 1e-4


def test_analysis_finds_partials_and_their_amplitudes() -> None:
    audio = _decaying_tone([(220.0, 0.5), (440.0, 0.25), (1234.0, 0.1)])[None]
    frames = ddsp.analyse(audio, SETTINGS, pitch_midi=torch.tensor([57.0]))
    assert frames.f0_hz[0] == pytest.approx(220.0)
    assert frames.ratios[0, :3].tolist() == pytest.approx([1.0, 2.0, 1234 / 220], abs=2e-3)
    t = 20 * SETTINGS.hop / SR
    measured = frames.amplitudes[0, 20, :3]
    expected = torch.tensor([0.5, 0.25, 0.1]) * math.exp(-3.0 * t)
    assert torch.allclose(measured, expected, rtol=0.05)
    assert frames.amplitudes[0, :, 3:].abs().max() == 0  # no invented partials


def test_white_noise_has_no_partials_and_its_level_is_recovered() -> None:
    noise = 0.1 * torch.randn(1, SR, generator=torch.Generator().manual_seed(0))
    frames = ddsp.analyse(noise, SETTINGS)
    assert frames.amplitudes.abs().max() == 0
    assert frames.f0_hz[0] == pytest.approx(440.0)
    middle = frames.noise[0, 10:-10]
    assert middle.mean().item() == pytest.approx(0.1, rel=0.1)


def test_analysis_resynthesis_keeps_level_and_spectrum() -> None:
    tone = _decaying_tone([(330.0, 0.4), (660.0, 0.2), (990.0, 0.1)])
    noise = 0.02 * torch.randn(SR, generator=torch.Generator().manual_seed(1))
    audio = torch.stack([tone + noise, noise * 3])
    frames = ddsp.analyse(audio, SETTINGS)
    rebuilt = ddsp.synthesize(frames, SR, SETTINGS, generator=torch.Generator().manual_seed(0))
    assert rebuilt.shape == audio.shape
    for original, copy in zip(audio, rebuilt, strict=True):
        assert copy.square().mean().sqrt().item() == pytest.approx(
            original.square().mean().sqrt().item(), rel=0.15
        )
        spectrum = (
            torch.stft(original, 2048, 512, window=torch.hann_window(2048), return_complex=True)
            .abs()
            .mean(-1)
        )
        rebuilt_spectrum = (
            torch.stft(copy, 2048, 512, window=torch.hann_window(2048), return_complex=True)
            .abs()
            .mean(-1)
        )
        log_distance = (torch.log(spectrum + 1e-4) - torch.log(rebuilt_spectrum + 1e-4)).abs()
        assert log_distance.mean() < 0.5


def test_partials_above_nyquist_are_silent() -> None:
    frames_count = SETTINGS.n_frames(SR)
    frames = ddsp.Frames(
        f0_hz=torch.tensor([15000.0]),
        ratios=torch.tensor([[1.0, 2.0]]),
        amplitudes=torch.full((1, frames_count, 2), 0.5),
        noise=torch.zeros(1, frames_count, SETTINGS.n_bands),
    )
    audio = ddsp.synthesize(frames, SR, SETTINGS, generator=torch.Generator().manual_seed(0))
    spectrum = (
        torch.stft(audio[0], 4096, 1024, window=torch.hann_window(4096), return_complex=True)
        .abs()
        .mean(-1)
    )
    assert spectrum.argmax().item() * SR / 4096 == pytest.approx(15000, abs=20)
    assert audio.abs().max() <= 0.51


def test_same_generator_seed_gives_identical_audio() -> None:
    audio = _decaying_tone([(200.0, 0.3)])[None] + 0.01
    frames = ddsp.analyse(audio, SETTINGS)
    first = ddsp.synthesize(frames, SR, SETTINGS, generator=torch.Generator().manual_seed(7))
    second = ddsp.synthesize(frames, SR, SETTINGS, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, second)


def test_frames_are_stretched_to_any_length() -> None:
    audio = _decaying_tone([(200.0, 0.3)])[None]
    frames = ddsp.analyse(audio, SETTINGS)
    longer = ddsp.synthesize(frames, 2 * SR, SETTINGS, generator=torch.Generator().manual_seed(0))
    assert longer.shape == (1, 2 * SR)
    assert torch.isfinite(longer).all()


def test_bad_settings_are_refused_with_the_value() -> None:
    with pytest.raises(ModelConfigError, match="hop 2048"):
        ddsp.DDSPSettings(hop=2048)
    with pytest.raises(ModelConfigError, match="audio"):
        ddsp.analyse(torch.zeros(SR), SETTINGS)


def test_a_dc_offset_is_not_resynthesised_as_rumble() -> None:
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(SR) / SR
    burst = 0.5 * torch.randn(SR, generator=generator) * torch.exp(-t / 0.02)
    audio = (burst + 0.001)[None]  # a noise hit that ends on a DC offset (−60 dBFS)
    frames = ddsp.analyse(audio, SETTINGS)
    out = ddsp.synthesize(frames, SR, SETTINGS, generator=generator)
    tail = out[0, SR // 2 :]
    # DC is not noise: the tail stays silent, not a rumble at the offset's level
    assert tail.square().mean().sqrt() < 1e-4
    assert out[0, : SR // 20].square().mean().sqrt() > 0.05  # the burst itself is there
