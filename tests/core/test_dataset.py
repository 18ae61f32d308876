"""Scanning folders of sounds and loading them as training clips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from synth_core.dataset import (
    ClipSet,
    ScanReport,
    load_clips,
    pitch_from_name,
    scan,
)
from synth_core.errors import DatasetError


def test_every_bad_file_is_skipped_with_its_reason(bad_corpus):
    folder, expected = bad_corpus
    report = scan(folder)
    assert sorted(item.path.name for item in report.usable) == [
        "ok kick__p036.wav",
        "ünïcødé 音.flac",
    ]
    reasons = {item.path.name: item.reason for item in report.skipped}
    assert set(reasons) == set(expected)
    for name, prefix in expected.items():
        assert reasons[name].startswith(prefix), (name, reasons[name])


def test_usable_files_carry_their_header_facts_and_pitch(sound_folder):
    report = scan(sound_folder)
    by_name = {item.path.name: item for item in report.usable}
    assert len(by_name) == 6 and not report.skipped
    pluck = by_name["pluck__p060.wav"]
    assert pluck.sample_rate == 44100 and pluck.channels == 1
    assert pluck.frames == 17640 and pluck.duration == pytest.approx(0.4)
    assert pluck.pitch == 60.0 and pluck.peak == pytest.approx(0.5, abs=0.01)
    assert by_name["wide.wav"].channels == 2 and by_name["hit.flac"].pitch is None


def test_pitch_labels_come_from_the_file_name():
    assert pitch_from_name("kick__p036.wav") == 36.0
    assert pitch_from_name(Path("pads/warm__P60.5.flac")) == 60.5
    assert pitch_from_name("kick_p036.wav") is None
    assert pitch_from_name("tone__p200.wav") is None


def test_clips_are_mono_fixed_length_and_labelled(sound_folder):
    clips = load_clips(sound_folder, sample_rate=22050, seconds=0.25)
    assert isinstance(clips, ClipSet) and len(clips) == 6
    assert clips.audio.shape == (6, 5512) and clips.audio.dtype == torch.float32
    labelled = {p.name: float(v) for p, v in zip(clips.paths, clips.pitch, strict=True)}
    assert labelled["pluck__p048.wav"] == 48.0 and math.isnan(labelled["hit.flac"])
    assert clips.has_pitch and clips.sample_rate == 22050


def test_leading_silence_is_trimmed_so_clips_start_at_the_onset(sound_folder):
    clips = load_clips(sound_folder, sample_rate=44100, seconds=0.2)
    hit = clips.audio[[p.name for p in clips.paths].index("hit.flac")].numpy()
    first_loud = int(np.argmax(np.abs(hit) > 0.005))
    assert first_loud < 0.005 * 44100  # the 50 ms of silence before the hit is gone


def test_a_folder_of_only_bad_files_raises_with_the_commonest_reason(bad_corpus):
    folder, _ = bad_corpus
    for good in ("ok kick__p036.wav", "ünïcødé 音.flac"):
        (folder / good).unlink()
    with pytest.raises(DatasetError, match=r"no usable sounds: 13 file\(s\) skipped"):
        load_clips(folder)


def test_a_missing_folder_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        scan(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no such folder"):
        load_clips(tmp_path / "nowhere")


def test_report_converts_to_plain_json_data(sound_folder):
    data = scan(sound_folder).to_dict()
    assert data["summary"]["usable"] == 6 and isinstance(data["usable"][0]["path"], str)
    assert isinstance(ScanReport(folder=sound_folder).to_dict()["usable"], list)
