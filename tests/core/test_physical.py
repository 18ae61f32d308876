"""Physical instruments: in tune, with the decay asked for, safe at every control corner.

Pitch is measured, never read back from the synthesis parameters: the parabolic-interpolated peak
of a long zero-padded FFT over the steady part of each note. Decay is measured on the first
partial: heterodyne it to DC, low-pass it, fit a line to the dB envelope. Both estimators live in
:mod:`synth_core.benchmarks.physical`, which ``bench/physical_report.py`` prints them with.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import soundfile as sf
import torch

from synth_core.benchmarks.physical import cents, hz, measured_hz, measured_t60
from synth_core.errors import ModelConfigError
from synth_core.models import get_family
from synth_core.models.base import LearnerBase, SoundModel
from synth_core.models.physical import (
    INSTRUMENT_TABLE,
    INSTRUMENTS,
    PhysicalModel,
    instrument_model,
)

SR = 44100


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small batches gain nothing from intra-op threads, and on a shared CI machine spinning
    threads slow everything down; restore the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


NOTES = list(range(36, 97, 5))  # C2 … C7, every fifth semitone


def render(name: str, settings: dict[str, list[float] | float], *, seconds: float) -> np.ndarray:
    """Render a batch of notes straight from the instrument (one call, one row per note)."""
    instrument = INSTRUMENT_TABLE[name]
    count = max(len(v) if isinstance(v, list) else 1 for v in settings.values())
    params = {}
    for control in instrument.controls:
        value = settings.get(control.name, control.default)
        values = value if isinstance(value, list) else [value] * count
        params[control.name] = torch.tensor(values, dtype=torch.float64)
    audio = instrument.render(
        params,
        samples=int(seconds * SR),
        sample_rate=SR,
        generator=torch.Generator().manual_seed(1),
    )
    return audio.numpy()


def test_every_instrument_is_registered_and_playable_by_name():
    family = get_family("physical")
    assert family.model_class is PhysicalModel
    assert INSTRUMENTS == (
        "physical:string",
        "physical:bar",
        "physical:marimba",
        "physical:bell",
        "physical:membrane",
        "physical:tube",
    )
    for name in INSTRUMENTS:
        model = instrument_model(name)
        assert isinstance(model, SoundModel) and isinstance(model, LearnerBase)
        assert model.family == "physical"
        assert model.controls()[0].name == "pitch"
        assert instrument_model(name.split(":")[1]).config.instrument == name.split(":")[1]


def test_unknown_instrument_names_the_valid_ones():
    with pytest.raises(ModelConfigError, match="physical:string.*physical:tube"):
        instrument_model("physical:kazoo")


@pytest.mark.parametrize(
    "settings",
    [
        {"stiffness": 0.0, "brightness": 0.5, "pick_position": 0.13},
        {"stiffness": 1.0, "brightness": 0.0, "pick_position": 0.5},
        {"stiffness": 0.5, "brightness": 1.0, "pick_position": 0.02},
    ],
    ids=["plain", "stiff-dark", "bright"],
)
def test_string_fundamental_is_within_one_cent_from_c2_to_c7(settings):
    audio = render(
        "string", {"pitch": [float(n) for n in NOTES], "decay": 2.0, **settings}, seconds=0.6
    )
    errors = [
        cents(measured_hz(a, hz(n), start=0.05), hz(n)) for a, n in zip(audio, NOTES, strict=True)
    ]
    assert max(abs(e) for e in errors) < 1.0, errors


@pytest.mark.parametrize("name", ["bar", "marimba", "bell", "membrane"])
def test_first_mode_of_struck_instruments_is_within_one_cent(name):
    audio = render(name, {"pitch": [float(n) for n in NOTES], "hardness": 1.0}, seconds=0.8)
    errors = [cents(measured_hz(a, hz(n)), hz(n)) for a, n in zip(audio, NOTES, strict=True)]
    assert max(abs(e) for e in errors) < 1.0, errors


def test_tube_fundamental_is_within_one_cent_while_blown():
    audio = render(
        "tube",
        {"pitch": [float(n) for n in NOTES], "vibrato": 0.0, "hold": 1.0, "pressure": 0.9},
        seconds=0.9,
    )
    errors = [cents(measured_hz(a, hz(n)), hz(n)) for a, n in zip(audio, NOTES, strict=True)]
    assert max(abs(e) for e in errors) < 1.0, errors


@pytest.mark.parametrize(
    ("name", "decays"),
    [
        ("string", [0.3, 1.0, 3.0]),
        ("bar", [0.3, 1.0, 3.0]),
        ("marimba", [0.3, 1.0, 3.0]),
        ("bell", [0.5, 2.0, 6.0]),
        ("membrane", [0.2, 0.6, 2.0]),
    ],
)
def test_first_partial_rings_for_the_decay_asked_for_within_5_percent(name, decays):
    notes = [36.0, 60.0, 84.0]
    pairs = list(itertools.product(notes, decays))
    audio = render(
        name,
        {"pitch": [p for p, _ in pairs], "decay": [d for _, d in pairs]},
        seconds=1.5,
    )
    for row, (pitch, decay) in zip(audio, pairs, strict=True):
        t60 = measured_t60(row, hz(pitch))
        assert abs(t60 / decay - 1.0) < 0.05, (pitch, decay, t60)


def test_high_string_is_still_in_tune_where_an_integer_delay_would_be_far_off():
    # At C7 on 44.1 kHz the period is 21.07 samples: rounding it to 21 would be 5.8 cents sharp.
    audio = render("string", {"pitch": [96.0], "decay": 3.0, "stiffness": 0.8}, seconds=0.6)
    assert abs(cents(measured_hz(audio[0], hz(96), start=0.05), hz(96))) < 0.1


@pytest.mark.parametrize("name", list(INSTRUMENT_TABLE))
def test_every_control_corner_renders_finite_bounded_audio_without_dc(name):
    model = instrument_model(name, clip_seconds=0.25)
    instrument = INSTRUMENT_TABLE[name]
    corners = torch.tensor(
        list(itertools.product((0.0, 1.0), repeat=len(instrument.controls))), dtype=torch.float64
    )
    positions = torch.zeros(len(corners), 8, dtype=torch.float64)
    positions[:, : corners.shape[1]] = corners
    audio = model.render_positions(
        instrument, positions, samples=model.config.clip_samples, generator=torch.Generator()
    )
    assert torch.isfinite(audio).all()
    assert float(audio.abs().max()) <= 1.0
    assert float(audio.mean(-1).abs().max()) < 1e-3
    assert (audio.abs().amax(-1) > 0.5).all(), "every corner should make a sound"


@pytest.mark.parametrize("name", INSTRUMENTS)
def test_generate_is_float32_bounded_deterministic_and_varied(name):
    model = instrument_model(name, clip_seconds=0.5)
    first = model.generate(n=3, seed=7, pitch=64)
    again = model.generate(n=3, seed=7, pitch=64)
    assert first.dtype == torch.float32 and first.shape == (3, model.config.clip_samples)
    assert torch.equal(first, again)
    assert float(first.abs().max()) <= 1.0
    assert float(first.mean(-1).abs().max()) < 1e-3
    assert not torch.equal(first[0], first[1]), "n notes of one setting should not be copies"
    assert not torch.equal(first, model.generate(n=3, seed=8, pitch=64))


def test_generate_plays_the_pitch_and_values_it_is_given():
    model = instrument_model("physical:string")
    audio = model.generate({"decay": 2.0, "brightness": 0.8}, n=1, seed=0, pitch=67).numpy()
    assert abs(cents(measured_hz(audio[0], hz(67), start=0.05), hz(67))) < 1.0


def test_out_of_range_or_unknown_values_are_refused_with_the_name():
    model = instrument_model("physical:bell")
    with pytest.raises(ModelConfigError, match="decay"):
        model.generate({"decay": 100.0})
    with pytest.raises(ModelConfigError, match="brightness.*pitch"):
        model.generate({"brightness": 0.5})
    with pytest.raises(ModelConfigError, match="pitch"):
        model.generate(pitch=130)


def test_every_string_pitch_slider_position_plays_at_22050_hz():
    model = instrument_model("physical:string", sample_rate=22050, clip_seconds=0.9)
    pitch = model.controls()[0]
    for note in np.linspace(pitch.minimum, pitch.maximum, 8):
        audio = model.generate({"pitch": float(note)}, seed=0)[0].numpy()
        assert np.isfinite(audio).all() and np.abs(audio).max() > 0.05, note
        # In tune up to the shortest loop the string holds (22050 / 8 = 2756 Hz, MIDI 100.8).
        target = min(hz(note), 22050 / 8)
        measured = measured_hz(audio, target, start=0.1, length=0.4, rate=22050)
        assert abs(cents(measured, target)) < 1.0, (note, measured)


def test_every_tube_pitch_slider_position_plays_at_22050_hz():
    model = instrument_model("physical:tube", sample_rate=22050, clip_seconds=0.9)
    pitch = model.controls()[0]
    for note in np.linspace(pitch.minimum, pitch.maximum, 8):
        audio = model.generate({"pitch": float(note), "vibrato": 0.0}, seed=0)[0].numpy()
        assert np.isfinite(audio).all() and np.abs(audio).max() > 0.1, note
        # In tune up to the highest note the bore holds (2205 Hz, MIDI 96.9); that note above it.
        target = min(hz(note), 2205.0)
        measured = measured_hz(audio, target, length=0.4, rate=22050)
        assert abs(cents(measured, target)) < 1.0, (note, measured)


def test_generate_command_plays_an_instrument_by_name_without_training(tmp_path):
    from synth_core.cli import main

    out = tmp_path / "strings"
    code = main(
        ["generate", "physical:string", "--n", "2", "--pitch", "60", "--set", "decay=2.0"]
        + ["--seed", "3", "--out", str(out)]
    )
    assert code == 0
    files = sorted(p.name for p in out.glob("*.wav"))
    assert files == ["0000__p060.wav", "0001__p060.wav"]
    audio, rate = sf.read(out / files[0])
    assert rate == SR and abs(cents(measured_hz(audio, hz(60), start=0.05), hz(60))) < 1.0
    assert main(["generate", "physical:kazoo", "--out", str(out)]) == 2
