"""Reading, writing, resampling and normalising audio."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core import audio
from synth_core.errors import AudioFileError


def test_wav_round_trip_keeps_samples_rate_and_channels(tmp_path):
    samples = (0.5 * np.sin(np.linspace(0, 200, 4410))).astype(np.float32)
    stereo = np.stack([samples, -samples], axis=1)
    path = audio.save(stereo, tmp_path / "out.wav", sample_rate=44100, subtype="FLOAT")
    loaded = audio.load(path, mono=False)
    assert loaded.sample_rate == 44100 and loaded.samples.shape == (4410, 2)
    np.testing.assert_array_equal(loaded.samples, stereo)
    assert loaded.duration == pytest.approx(0.1)
    assert audio.load(path).samples.shape == (4410,)


def test_a_text_file_named_wav_raises_a_clear_audio_error(tmp_path):
    path = tmp_path / "fake.wav"
    path.write_text("not audio")
    with pytest.raises(AudioFileError, match="fake.wav: cannot be read as audio"):
        audio.load(path)
