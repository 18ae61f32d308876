"""Played notes: voices summed per block, released, sustained and stolen; notes cached per sound."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from synth_core.notes import ROOT_NOTE, NotePlayer, note_mode, render_note, transpose
from synth_core.runs import open_model
from synth_core.voices import RELEASE_S, VoiceMixer, velocity_gain

RATE = 1000  # a slow rate keeps the release fade short in samples: 50 ms = 50 frames


def tone(note: int, frames: int = 400) -> np.ndarray:
    """A distinct, never-zero signal per note, so a sum shows which voices are in it."""
    return (0.01 * (note + 1) + 0.001 * np.arange(frames) / frames).astype(np.float32)


def test_eight_simultaneous_voices_sum_sample_for_sample():
    mixer = VoiceMixer(sample_rate=RATE, max_voices=8)
    velocities = [10, 30, 50, 70, 90, 100, 120, 127]
    for note, velocity in enumerate(velocities):
        mixer.note_on(note, tone(note), velocity=velocity)

    block = mixer.mix(64)

    expected = sum(tone(n)[:64] * velocity_gain(v) for n, v in enumerate(velocities))
    assert mixer.active == 8
    np.testing.assert_allclose(block, expected, rtol=1e-6)
    assert velocity_gain(127) == 1.0 and velocity_gain(64) == pytest.approx((64 / 127) ** 2)
    # the next block carries on where each voice left off
    np.testing.assert_allclose(
        mixer.mix(64),
        sum(tone(n)[64:128] * velocity_gain(v) for n, v in enumerate(velocities)),
        rtol=1e-6,
    )


def test_a_voice_ends_with_its_samples():
    mixer = VoiceMixer(sample_rate=RATE)
    mixer.note_on(60, tone(60, frames=100), velocity=127)
    block = mixer.mix(128)
    np.testing.assert_allclose(block[:100], tone(60, frames=100))
    assert not block[100:].any()
    assert mixer.active == 0
    assert len(mixer.latencies_s) == 1 and mixer.latencies_s[0] >= 0


def test_note_off_fades_out_linearly_over_the_release_time():
    mixer = VoiceMixer(sample_rate=RATE)
    flat = np.ones(1000, dtype=np.float32)
    mixer.note_on(60, flat, velocity=127)
    mixer.mix(10)
    mixer.note_off(60)
    release_frames = round(RELEASE_S * RATE)

    tail = mixer.mix(100)

    np.testing.assert_allclose(
        tail[:release_frames], 1.0 - np.arange(release_frames) / release_frames, atol=1e-6
    )
    assert not tail[release_frames:].any()
    assert mixer.active == 0


def test_sustain_pedal_holds_released_notes_until_it_is_lifted():
    mixer = VoiceMixer(sample_rate=RATE)
    flat = np.ones(1000, dtype=np.float32)
    mixer.sustain(True)
    mixer.note_on(60, flat, velocity=127)
    mixer.note_off(60)
    assert mixer.held_notes == [60]
    np.testing.assert_allclose(mixer.mix(200), 1.0)  # still at full level after the key went up

    mixer.sustain(False)

    assert mixer.held_notes == []
    assert mixer.mix(200)[-1] == 0.0
    assert mixer.active == 0


def test_a_note_beyond_the_limit_steals_a_releasing_voice_first_then_the_oldest():
    mixer = VoiceMixer(sample_rate=RATE, max_voices=8)
    for note in range(8):
        mixer.note_on(note, tone(note))
    mixer.note_off(5)

    mixer.note_on(8, tone(8))
    assert mixer.sounding_notes == [0, 1, 2, 3, 4, 6, 7, 8]
    mixer.note_on(9, tone(9))
    assert mixer.sounding_notes == [1, 2, 3, 4, 6, 7, 8, 9]
    assert mixer.stolen == 2
    np.testing.assert_allclose(
        mixer.mix(16), sum(tone(n)[:16] * velocity_gain(100) for n in mixer.sounding_notes)
    )


def test_repeating_a_key_releases_the_voice_it_restarts():
    mixer = VoiceMixer(sample_rate=RATE)
    mixer.note_on(60, tone(60))
    mixer.note_on(60, tone(60))
    assert mixer.sounding_notes == [60, 60]
    assert mixer.held_notes == [60]


@pytest.fixture
def string_notes():
    model = open_model("physical:string")
    mixer = VoiceMixer(sample_rate=model.sample_rate)
    notes = NotePlayer(mixer, capacity=6)
    yield model, mixer, notes
    notes.close()
    assert not notes._thread.is_alive()


def test_cache_fills_nearest_pitches_first_and_empties_when_the_sound_changes(string_notes):
    model, mixer, notes = string_notes
    values = {c.name: c.default for c in model.controls()}
    assert note_mode(model) == "pitched"
    notes.set_sound(model, values, 0)
    assert notes.wait_idle(60)
    assert notes.cached_notes == [57, 58, 59, 60, 61, 62]
    np.testing.assert_array_equal(notes.cached(62), render_note(model, values, 0, 62))

    assert notes.note_on(61, 127) is True  # cached: in the mixer before note_on returns
    assert mixer.held_notes == [61]

    brighter = dict(values, brightness=0.9)
    notes.set_sound(model, brighter, 0)  # a slider moved
    assert notes.wait_idle(60)
    np.testing.assert_array_equal(notes.cached(61), render_note(model, brighter, 0, 61))
    assert not np.array_equal(notes.cached(61), render_note(model, values, 0, 61))


def test_an_uncached_note_renders_at_once_and_plays_when_ready(string_notes):
    model, mixer, notes = string_notes
    notes.capacity = 1
    notes.set_sound(model, {c.name: c.default for c in model.controls()}, 3)
    assert notes.wait_idle(60)
    assert notes.note_on(90, 80) is False

    assert notes.wait_idle(60)
    assert mixer.held_notes == [90]
    assert notes.cached(90) is not None


def test_a_key_released_before_its_note_was_ready_plays_a_short_note(string_notes):
    model, mixer, notes = string_notes
    notes.capacity = 1
    notes.set_sound(model, {c.name: c.default for c in model.controls()}, 3)
    assert notes.wait_idle(60)
    notes.note_on(40)
    notes.note_off(40)
    assert notes.wait_idle(60)
    assert mixer.sounding_notes == [40] and mixer.held_notes == []


def test_a_family_without_pitch_plays_its_sound_transposed():
    model = open_model("builtin-rnn")
    assert not model.pitch_conditioned and note_mode(model) == "transposed"
    mixer = VoiceMixer(sample_rate=model.sample_rate)
    notes = NotePlayer(mixer, capacity=2)
    try:
        values = {c.name: c.default for c in model.controls()}
        notes.set_sound(model, values, 5)
        notes.note_on(ROOT_NOTE + 12)
        assert notes.wait_idle(120)
        base = render_note(model, values, 5, ROOT_NOTE)
        octave_up = notes.cached(ROOT_NOTE + 12)
        np.testing.assert_allclose(octave_up, transpose(base, 12), atol=1e-6)
        assert len(octave_up) == pytest.approx(len(base) / 2, abs=2)
        np.testing.assert_allclose(octave_up[:100], base[:200:2][:100], atol=1e-6)
    finally:
        notes.close()
    assert "timbrelab-notes" not in {t.name for t in threading.enumerate()}


def test_the_note_bench_measures_cached_and_uncached_notes():
    from synth_core.benchmarks.notes import note_latency_ms

    model = open_model("physical:string")
    for cached in (True, False):
        median, p95 = note_latency_ms(model, cached=cached, notes=5)
        assert 0.0 < median <= p95  # a benchmark: no speed is asserted, only that it measures
