"""Spectral analysis and rendering measure what they claim, on signals whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch

from synth_core import dsp, render

RATE = 22050


def sine(freq: float, seconds: float = 0.5, decay: float = 0.0) -> torch.Tensor:
    t = torch.arange(int(RATE * seconds)) / RATE
    return 0.5 * torch.sin(2 * math.pi * freq * t) * torch.exp(-decay * t)


def test_stft_and_istft_round_trip_a_batch():
    audio = torch.randn(3, RATE // 2, generator=torch.Generator().manual_seed(0)) * 0.1
    spec = dsp.stft(audio, n_fft=512, hop=128)
    assert spec.shape == (3, 257, 1 + audio.shape[-1] // 128)
    back = dsp.istft(spec, n_fft=512, hop=128, length=audio.shape[-1])
    assert torch.allclose(back, audio, atol=1e-5)


@pytest.mark.parametrize(("n_fft", "hop"), [(1024, 256), (512, 128), (256, 96)])
def test_the_renderers_frame_major_stft_matches_dsp_stft_and_inverts(n_fft, hop):
    audio = torch.randn(2, 5000, generator=torch.Generator().manual_seed(1)) * 0.1
    spec = render.frame_stft(audio, n_fft=n_fft, hop=hop)
    reference = dsp.stft(audio, n_fft=n_fft, hop=hop).transpose(-1, -2)
    assert spec.shape == reference.shape
    assert torch.allclose(spec, reference, atol=1e-4)
    back = render.frame_istft(spec, n_fft=n_fft, hop=hop, length=audio.shape[-1])
    assert torch.allclose(back, audio, atol=1e-5)


def test_griffin_lim_brings_a_random_phase_closer_to_consistency_each_few_steps():
    tone = (sine(220, 1.0, 3.0) + 0.5 * sine(660, 1.0, 5.0))[None]
    mag = dsp.magnitude(tone)
    errors = []
    for n_iter in (0, 4, 16):
        audio = render.griffin_lim(
            mag, length=tone.shape[-1], n_iter=n_iter, generator=torch.Generator().manual_seed(0)
        )
        errors.append(float((dsp.magnitude(audio) - mag).norm() / mag.norm()))
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("freq", [82.4, 261.6, 1046.5])
def test_yin_finds_the_pitch_of_a_harmonic_tone_within_five_cents(freq):
    t = torch.arange(RATE) / RATE
    tone = sum(torch.sin(2 * math.pi * freq * k * t) / k for k in range(1, 6)) * 0.2
    estimate = float(dsp.f0_hz(tone[None], RATE)[0])
    assert abs(1200 * math.log2(estimate / freq)) < 5


def test_noise_has_no_pitch_and_is_noisier_than_a_tone():
    noise = torch.randn(1, RATE, generator=torch.Generator().manual_seed(1)) * 0.1
    assert math.isnan(float(dsp.f0_hz(noise, RATE)[0]))
    flat_noise = float(dsp.spectral_flatness(noise)[0])
    flat_tone = float(dsp.spectral_flatness(sine(440)[None])[0])
    assert flat_noise > 0.5 > 0.05 > flat_tone


def test_centroid_of_a_sine_is_its_frequency_and_brighter_sounds_rank_higher():
    centroid = dsp.spectral_centroid_hz(torch.stack([sine(500), sine(3000)]), RATE)
    assert abs(float(centroid[0]) - 500) < 30
    assert abs(float(centroid[1]) - 3000) < 60


def test_decay_time_follows_the_envelope():
    # amplitude exp(-d t) falls 20 dB after ln(10) / d seconds
    fast, slow = dsp.decay_time_s(torch.stack([sine(440, 1.0, 10.0), sine(440, 1.0, 4.0)]), RATE)
    assert float(fast) == pytest.approx(math.log(10) / 10, rel=0.1)
    assert float(slow) == pytest.approx(math.log(10) / 4, rel=0.1)


def test_loudness_drops_six_db_when_the_level_halves():
    level = dsp.loudness_db(torch.stack([sine(440), sine(440) / 2]))
    assert float(level[0] - level[1]) == pytest.approx(20 * math.log10(2), abs=0.05)


def test_mel_filters_cover_the_band_in_order():
    bank = dsp.mel_filterbank(RATE, 1024, 40)
    assert bank.shape == (40, 513)
    peaks = bank.argmax(-1)
    assert bool((peaks.diff() >= 0).all()) and float(bank.max()) <= 1.0


def test_bins_lock_to_a_partial_within_the_main_lobe_and_keep_their_own_pace_elsewhere():
    n_fft, hop, frames = 1024, 100, 20  # a hop under which bins 100 and 298–302 differ in pace
    mag = torch.full((513, frames), 1e-3)
    mag[100] = 1.0  # one partial, exactly on bin 100
    mag[99] = mag[101] = 0.5
    phase = render.peak_locked_phase(mag, n_fft=n_fft, hop=hop)
    # phase advance per frame, in bins of frequency (the π k term is the same every frame)
    advance = torch.remainder(phase[:, 1] - phase[:, 0], 2 * math.pi)

    def distance(bin_number: int, bin_frequency: float) -> float:
        """Circular distance between bin's advance and the pace of ``bin_frequency``."""
        pace = 2 * math.pi * bin_frequency * hop / n_fft
        gap = (float(advance[bin_number]) - pace) % (2 * math.pi)
        return min(gap, 2 * math.pi - gap)

    for k in (98, 99, 101, 102):  # within ±2 bins: the partial's pace
        assert distance(k, 100.0) < 1e-3, k
    # far from the partial a bin moves at (about) its own frequency, not at bin 100's
    assert min(distance(300, 300 + shift) for shift in (-2, -1, 0, 1, 2)) < 1e-3
    assert distance(300, 100.0) > 0.1


def test_the_strongest_bin_nearby_is_argmax_over_the_window_first_of_equals_first():
    """The running comparisons that replace ``argmax`` over ±2 bins (the exports still use
    argmax) pick the same bin: on noise, on flat stretches where every bin ties, at both ends."""
    generator = torch.Generator().manual_seed(0)
    log_mag = torch.randn(3, 40, 513, generator=generator)
    log_mag[0, :, 100:200] = -11.5  # silence: ties everywhere
    log_mag[1, :, 300:310] = torch.tensor([0.0, 1, 1, 0, 2, 2, 2, 0, 1, 1])  # ties at peaks
    reach = render.PEAK_REACH
    wide = torch.nn.functional.pad(log_mag, (reach, reach), value=-1e30)
    expected = wide.unfold(-1, 2 * reach + 1, 1).argmax(-1) + torch.arange(-reach, 513 - reach)
    assert torch.equal(render._strongest_nearby(log_mag, reach), expected)
    # a NaN bin does not make an index outside the spectrum
    log_mag[2, 5, 50] = float("nan")
    found = render._strongest_nearby(log_mag, reach)
    assert int(found.min()) >= 0 and int(found.max()) <= 512


def test_peak_locked_phase_renders_a_tone_better_than_random_phase_in_few_iterations():
    tone = (sine(220, 1.0, 3.0) + 0.5 * sine(660, 1.0, 5.0))[None]
    mag = dsp.magnitude(tone)

    def convergence_db(audio: torch.Tensor) -> float:
        error = (dsp.magnitude(audio) - mag).norm() / mag.norm()
        return 20 * math.log10(float(error))

    locked = render.render_magnitude(mag, length=tone.shape[-1], n_iter=4, init="peaks")
    random = render.render_magnitude(
        mag, length=tone.shape[-1], n_iter=4, init="random", generator=torch.Generator()
    )
    assert convergence_db(locked) < convergence_db(random) - 5
    assert convergence_db(locked) < -15
