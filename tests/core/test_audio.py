"""Reading, writing, resampling and normalising audio."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from synth_core import audio
from synth_core.errors import AudioFileError

# (suffix, subtype, quantisation step of the subtype relative to full scale)
LOSSLESS = [
    ("wav", "PCM_U8", 2.0**-7),
    ("wav", "PCM_16", 2.0**-15),
    ("wav", "PCM_24", 2.0**-23),
    ("wav", "PCM_32", 2.0**-31),
    ("wav", "FLOAT", 0.0),
    ("flac", "PCM_S8", 2.0**-7),
    ("flac", "PCM_16", 2.0**-15),
    ("flac", "PCM_24", 2.0**-23),
    ("aiff", "PCM_S8", 2.0**-7),
    ("aiff", "PCM_16", 2.0**-15),
    ("aiff", "PCM_24", 2.0**-23),
    ("aiff", "PCM_32", 2.0**-31),
    ("aiff", "FLOAT", 0.0),
]
LAYOUTS = [(1, 8000), (2, 44100), (8, 192000), (6, 96000)]


def noise(frames: int, channels: int, *, seed: int = 0) -> np.ndarray:
    samples = np.random.default_rng(seed).uniform(-0.9, 0.9, size=(frames, channels))
    return samples.astype(np.float32)


def peak_frequency(samples: np.ndarray, sample_rate: int) -> float:
    """Frequency of the strongest FFT bin, refined by parabolic interpolation of the log
    magnitudes around it (Smith, Spectral Audio Signal Processing, "Quadratic Interpolation")."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    k = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + offset) * sample_rate / len(samples)


def rms_db(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))))


def sine(frequency: float, sample_rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.mark.parametrize(("suffix", "subtype", "step"), LOSSLESS)
def test_lossless_round_trip_is_exact_to_the_bit_depth(tmp_path, suffix, subtype, step):
    channels, rate = LAYOUTS[LOSSLESS.index((suffix, subtype, step)) % len(LAYOUTS)]
    samples = noise(2000, channels)
    path = audio.save(samples, tmp_path / f"x.{suffix}", sample_rate=rate, subtype=subtype)
    loaded = audio.load(path, mono=False)
    assert loaded.sample_rate == rate and loaded.channels == channels
    assert loaded.samples.shape == ((2000,) if channels == 1 else (2000, channels))
    assert loaded.samples.dtype == np.float32 and loaded.path == path
    assert np.abs(loaded.samples.reshape(samples.shape) - samples).max() <= step * 1.01
    assert sf.info(str(path)).subtype == subtype


@pytest.mark.parametrize(
    ("suffix", "subtype"), [("ogg", "VORBIS"), ("ogg", "OPUS"), ("mp3", "MPEG_LAYER_III")]
)
def test_lossy_round_trip_keeps_pitch_and_level(tmp_path, suffix, subtype):
    if not sf.check_format(audio.FORMAT_BY_SUFFIX["." + suffix], subtype):
        pytest.skip(f"this libsndfile cannot write {suffix}/{subtype}")
    original = sine(1000.0, 48000, 0.5)
    path = audio.save(original, tmp_path / f"tone.{suffix}", sample_rate=48000, subtype=subtype)
    loaded = audio.load(path)
    middle = loaded.samples[4800:-4800]
    assert peak_frequency(middle, loaded.sample_rate) == pytest.approx(1000.0, abs=1.0)
    assert rms_db(middle) == pytest.approx(rms_db(original), abs=0.5)


def test_mono_load_averages_the_channels_and_can_resample(tmp_path):
    left = sine(440.0, 44100, 0.2)
    path = audio.save(np.stack([left, 0.5 * left], 1), tmp_path / "s.wav", sample_rate=44100)
    loaded = audio.load(path, sample_rate=22050)
    assert loaded.samples.ndim == 1 and loaded.sample_rate == 22050 and loaded.frames == 4410
    assert np.abs(loaded.samples).max() == pytest.approx(0.375, abs=0.01)
    assert loaded.duration == pytest.approx(0.2)


def test_metadata_is_written_into_the_file(tmp_path):
    meta = {"title": "Warm pad", "artist": "Timbre Lab", "comment": "seed 7"}
    for suffix in ("wav", "flac"):
        path = audio.save(
            sine(220, 44100, 0.1), tmp_path / f"m.{suffix}", sample_rate=44100, metadata=meta
        )
        with sf.SoundFile(path) as handle:
            assert (handle.title, handle.artist, handle.comment) == tuple(meta.values())


def test_integer_formats_clip_instead_of_wrapping(tmp_path):
    loud = np.array([0.0, 1.7, -3.0, 0.5], dtype=np.float32)
    loaded = audio.load(audio.save(loud, tmp_path / "c.wav", sample_rate=8000))
    assert loaded.samples[1] == pytest.approx(1.0, abs=1e-4)
    assert loaded.samples[2] == pytest.approx(-1.0, abs=1e-4)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_files(tmp_path):
    path = audio.save(sine(220, 44100, 0.1), tmp_path / "keep.ogg", sample_rate=44100)
    before = path.read_bytes()
    with pytest.raises(AudioFileError, match="keep.ogg: cannot write OGG/OPUS at 44100 Hz"):
        audio.save(sine(330, 44100, 0.1), path, sample_rate=44100, subtype="OPUS")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.ogg"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "x.xyz"}, "cannot write format '.xyz'"),
        ({"path": "x.wav", "subtype": "VORBIS"}, "format WAV cannot hold subtype VORBIS"),
        ({"path": "x.wav", "metadata": {"mood": "sad"}}, r"unknown metadata field\(s\) \['mood'\]"),
        ({"path": "x.wav", "samples": np.full(4, np.nan)}, "NaN or infinite"),
        ({"path": "x.wav", "samples": np.zeros((0,))}, "cannot save samples of shape"),
        ({"path": "x.wav", "sample_rate": None}, "sample_rate is needed"),
        ({"path": "missing/x.wav"}, "folder .* does not exist"),
    ],
)
def test_bad_save_requests_raise_clear_errors(tmp_path, kwargs, message):
    samples = kwargs.pop("samples", np.zeros(100, np.float32))
    rate = kwargs.pop("sample_rate", 44100)
    path = tmp_path / kwargs.pop("path")
    with pytest.raises(AudioFileError, match=message):
        audio.save(samples, path, sample_rate=rate, **kwargs)


def test_loading_what_is_not_audio_names_the_file_and_the_problem(tmp_path):
    (tmp_path / "fake.wav").write_text("not audio")
    (tmp_path / "folder.wav").mkdir()
    sf.write(tmp_path / "nan.wav", np.array([0.1, np.nan], np.float32), 8000, subtype="FLOAT")
    cases = {
        "fake.wav": "fake.wav: cannot be read as audio",
        "folder.wav": "folder.wav: is a folder",
        "absent.wav": "absent.wav: no such file",
        "nan.wav": "nan.wav: contains NaN",
    }
    for name, message in cases.items():
        with pytest.raises(AudioFileError, match=message):
            audio.load(tmp_path / name)


def test_resampling_a_1khz_sine_to_48khz_keeps_frequency_and_level():
    original = sine(1000.0, 44100, 1.0)
    resampled = audio.resample(original, 44100, 48000)
    assert resampled.dtype == np.float32 and resampled.shape == (48000,)
    middle = resampled[2400:-2400]  # away from the filter's edge transients
    assert peak_frequency(middle, 48000) == pytest.approx(1000.0, abs=0.02)
    assert rms_db(middle) == pytest.approx(rms_db(original), abs=0.01)


def test_resampling_keeps_channels_and_rejects_bad_rates():
    stereo = noise(4410, 2)
    assert audio.resample(stereo, 44100, 8000).shape == (800, 2)
    with pytest.raises(AudioFileError, match="sample rates must be positive"):
        audio.resample(stereo, 0, 8000)


def test_peak_normalise_puts_the_peak_at_the_target_and_leaves_silence_alone():
    normalised = audio.peak_normalise(sine(100, 8000, 0.1, amplitude=0.1), peak_db=-6.0)
    assert np.abs(normalised).max() == pytest.approx(10 ** (-6 / 20), rel=1e-5)
    assert not audio.peak_normalise(np.zeros(10)).any()


@pytest.mark.parametrize("seconds", [2.0, 0.1])
def test_loudness_normalise_reaches_the_target_lufs(seconds):
    quiet = sine(1000, 48000, seconds, amplitude=0.05)
    louder = audio.loudness_normalise(quiet, 48000, lufs=-20.0)
    assert audio.loudness(louder, 48000) == pytest.approx(-20.0, abs=0.05)
    assert not audio.loudness_normalise(np.zeros(48000), 48000).any()


def test_loudness_of_more_than_five_channels_is_refused_clearly():
    with pytest.raises(AudioFileError, match="loudness of 8 channels is not defined"):
        audio.loudness_normalise(noise(48000, 8), 48000)


@settings(max_examples=40, deadline=None)
@given(
    samples=arrays(
        np.float32,
        st.tuples(st.integers(1, 300), st.integers(1, 3)),
        elements=st.floats(-1.0, 1.0, width=32),
    ),
    format_and_subtype=st.sampled_from(
        # Not 8-bit AIFF: libsndfile reads its odd-length pad byte back as an extra frame.
        [("wav", "PCM_U8", 2.0**-7), ("flac", "PCM_24", 2.0**-23), ("aiff", "PCM_16", 2.0**-15)]
    ),
)
def test_any_signal_survives_a_save_load_round_trip(samples, format_and_subtype):
    suffix, subtype, step = format_and_subtype
    with tempfile.TemporaryDirectory() as folder:
        path = audio.save(samples, Path(folder) / f"r.{suffix}", sample_rate=16000, subtype=subtype)
        loaded = audio.load(path, mono=False)
    assert loaded.frames == samples.shape[0] and loaded.channels == samples.shape[1]
    assert np.abs(loaded.samples.reshape(samples.shape) - samples).max() <= step * 1.01
