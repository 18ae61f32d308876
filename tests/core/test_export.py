"""Exporting sounds: formats, rates, normalisation, fades, names, sidecars, batches."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile

from synth_core.errors import TimbreLabError
from synth_core.export import (
    ExportError,
    ExportSettings,
    SoundRecipe,
    file_stem,
    prepare,
    read_recipe,
    variations,
    write_sound,
)
from synth_core.models.base import Control


def tone(freq_hz: float = 440.0, seconds: float = 0.5, rate: int = 44100, level: float = 0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


@pytest.mark.parametrize(
    ("fmt", "depth", "subtype"),
    [
        ("wav", "16", "PCM_16"),
        ("wav", "24", "PCM_24"),
        ("wav", "32f", "FLOAT"),
        ("flac", "16", "PCM_16"),
        ("flac", "24", "PCM_24"),
        ("ogg", "16", "VORBIS"),
    ],
)
def test_each_format_and_bit_depth_is_written_as_asked(tmp_path, fmt, depth, subtype):
    settings = ExportSettings(format=fmt, bit_depth=depth, sample_rate=48000)
    path = write_sound(tone(), 44100, tmp_path / "hit", settings)
    info = soundfile.info(path)
    assert path.suffix == "." + fmt
    assert info.samplerate == 48000
    assert info.subtype == subtype
    assert info.channels == 1


def test_resampling_keeps_the_pitch_of_a_tone(tmp_path):
    settings = ExportSettings(sample_rate=96000, bit_depth="32f", normalise="none", fade_out_s=0)
    path = write_sound(tone(1000.0, seconds=1.0), 44100, tmp_path / "tone", settings)
    samples, rate = soundfile.read(path)
    assert rate == 96000
    assert len(samples) == 96000
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)), n=8 * len(samples)))
    peak_hz = np.argmax(spectrum) * rate / (8 * len(samples))
    assert abs(peak_hz - 1000.0) < 0.5
    assert np.max(np.abs(samples)) == pytest.approx(0.5, abs=0.01)


def test_peak_normalisation_reaches_the_target():
    settings = ExportSettings(sample_rate=44100, normalise="peak", peak_dbfs=-6.0)
    out = prepare(tone(level=0.1), 44100, settings)
    assert 20 * math.log10(np.max(np.abs(out))) == pytest.approx(-6.0, abs=0.01)


def test_loudness_normalisation_reaches_the_lufs_target():
    import pyloudnorm

    settings = ExportSettings(
        sample_rate=48000, normalise="lufs", lufs=-20.0, peak_dbfs=0.0, fade_out_s=0.0
    )
    out = prepare(tone(seconds=2.0, level=0.05), 44100, settings)
    measured = pyloudnorm.Meter(48000).integrated_loudness(out.astype(np.float64))
    assert measured == pytest.approx(-20.0, abs=0.2)


def test_a_loudness_target_that_would_clip_is_held_at_the_peak_target():
    settings = ExportSettings(sample_rate=44100, normalise="lufs", lufs=-1.0, peak_dbfs=-1.0)
    out = prepare(tone(level=0.5), 44100, settings)
    assert np.max(np.abs(out)) == pytest.approx(10 ** (-1 / 20), abs=1e-4)


def test_fade_out_ends_in_silence_and_leaves_the_start_alone():
    settings = ExportSettings(sample_rate=44100, normalise="none", fade_out_s=0.1)
    audio = np.full(44100, 0.5, dtype=np.float32)
    out = prepare(audio, 44100, settings)
    assert out[-1] == pytest.approx(0.0, abs=1e-6)
    assert np.all(out[: 44100 - 4410] == pytest.approx(0.5))
    assert np.all(np.diff(out[-4410:]) <= 1e-7)


def test_file_names_fill_every_token_and_strip_unsafe_characters():
    stem = file_stem("{model}-{n}-{seed}-{pitch}", model="/runs/my:run", seed=7, n=3, pitch=60.0)
    assert stem == "my-run-003-7-60"
    assert file_stem("{model} {pitch}", model="physical:string", seed=0, n=1, pitch=None) == (
        "physical-string none"
    )
    assert file_stem("a?b*{n}", model="m", seed=0, n=1, pitch=None) == "a_b_001"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ExportSettings(pattern="{model}_{velocity}"), "velocity"),
        (ExportSettings(pattern="sub/{n}"), "slashes"),
        (ExportSettings(format="mp3"), "mp3"),
        (ExportSettings(format="flac", bit_depth="32f"), "FLAC"),
        (ExportSettings(sample_rate=22050), "22050"),
        (ExportSettings(normalise="rms"), "rms"),
        (ExportSettings(fade_out_s=-1), "fade-out"),
    ],
)
def test_bad_export_settings_are_refused_with_the_value_named(settings, message):
    with pytest.raises(ExportError, match=message) as caught:
        settings.validate()
    assert isinstance(caught.value, TimbreLabError)


def test_a_silent_or_broken_sound_is_refused_but_silence_is_written_as_is(tmp_path):
    settings = ExportSettings()
    with pytest.raises(ExportError, match="NaN"):
        prepare(np.array([0.0, np.nan], dtype=np.float32), 44100, settings)
    with pytest.raises(ExportError, match="empty"):
        prepare(np.zeros(0, dtype=np.float32), 44100, settings)
    path = write_sound(np.zeros(4410, dtype=np.float32), 44100, tmp_path / "quiet", settings)
    assert np.all(soundfile.read(path)[0] == 0)


def test_the_sidecar_records_model_controls_seed_and_pitch(tmp_path):
    recipe = SoundRecipe(
        model="physical:string", family="physical", controls={"decay": 1.5}, seed=42, pitch=64.0
    )
    path = write_sound(tone(), 44100, tmp_path / "pluck", ExportSettings(), recipe)
    data = json.loads(path.with_suffix(".json").read_text())
    assert data["model"] == "physical:string"
    assert data["controls"] == {"decay": 1.5}
    assert data["seed"] == 42
    assert data["pitch"] == 64.0
    assert data["export"]["sample_rate"] == 48000
    assert read_recipe(path) == recipe


def test_a_missing_or_foreign_sidecar_is_a_clear_error(tmp_path):
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(ExportError, match="not a Timbre Lab sidecar"):
        read_recipe(tmp_path / "other.wav")
    with pytest.raises(ExportError, match="no sidecar"):
        read_recipe(tmp_path / "nothing.wav")


def test_variations_start_at_the_centre_stay_in_range_and_repeat_with_the_seed():
    controls = [
        Control("decay", "Decay", 0.05, 10.0, 1.0, unit="s", curve="log"),
        Control("axis_1", "Axis 1", -3.0, 3.0, 0.0, unit="σ"),
    ]
    centre = {"decay": 2.0, "axis_1": 0.5}
    points = variations(controls, centre, n=20, spread=0.1, seed=3)
    assert points[0] == centre
    assert points == variations(controls, centre, n=20, spread=0.1, seed=3)
    assert points != variations(controls, centre, n=20, spread=0.1, seed=4)
    for point in points:
        assert 0.05 <= point["decay"] <= 10.0
        assert -3.0 <= point["axis_1"] <= 3.0
    assert len({p["axis_1"] for p in points}) == 20
    still = variations(controls, centre, n=5, spread=0.0, seed=3)
    assert all(p == pytest.approx(centre) for p in still)


def test_a_batch_writes_n_variations_whose_sidecars_recreate_them(tmp_path):
    from synth_core.export import export_batch, recreate
    from synth_core.runs import open_model

    model = open_model("physical:string")
    settings = ExportSettings(sample_rate=44100, bit_depth="32f", normalise="none", fade_out_s=0)
    progress = []
    result = export_batch(
        model,
        tmp_path / "pack",
        model_id="physical:string",
        values={"decay": 0.8},
        n=3,
        spread=0.2,
        seed=10,
        settings=ExportSettings(**{**settings.to_dict(), "pattern": "{model}_{n}_{seed}"}),
        progress=lambda done, total: progress.append((done, total)),
    )
    assert not result.cancelled
    assert [p.name for p in result.files] == [
        "physical-string_001_10.wav",
        "physical-string_002_11.wav",
        "physical-string_003_12.wav",
    ]
    assert progress == [(1, 3), (2, 3), (3, 3)]
    first = read_recipe(result.files[0])
    assert first.controls["decay"] == 0.8
    for path in result.files:
        written, rate = soundfile.read(path, dtype="float32")
        again = recreate(read_recipe(path), model).numpy()
        assert rate == 44100
        np.testing.assert_allclose(written, again, atol=1e-6)
    assert len({soundfile.read(p)[0].tobytes() for p in result.files}) == 3


def test_cancelling_a_batch_keeps_what_was_written(tmp_path):
    from synth_core.export import export_batch
    from synth_core.runs import open_model

    model = open_model("physical:string")
    asked = []
    result = export_batch(
        model,
        tmp_path,
        model_id="physical:string",
        n=5,
        should_stop=lambda: asked.append(1) or len(asked) > 2,
    )
    assert result.cancelled
    assert len(result.files) == 2
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_a_family_without_an_export_module_says_why(tmp_path):
    from synth_core.model_export.save import export_model
    from synth_core.models import get_family

    model = get_family("hmm").model_class.from_config(get_family("hmm").model_class.config_class())
    with pytest.raises(ExportError, match="'hmm' family cannot be exported: each sound's stage"):
        export_model(model, tmp_path / "m.pt", format="torchscript")
    assert not (tmp_path / "m.pt").exists()
