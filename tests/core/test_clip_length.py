"""A model's clip length follows the folder it learns from, so 1.5-second notes come back whole
(issue 18), and ``--set clip_seconds=…`` still decides when it is given."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf

from synth_core import cli
from synth_core.clip_length import (
    MAX_CLIP_S,
    choose_clip_seconds,
    clip_length_for_folder,
    sound_duration,
)
from synth_core.runs import open_model

RATE = 16000
TINY_CNN = ["--family", "cnn", "--set", f"sample_rate={RATE}", "--set", "channels=8"]
TINY_CNN += ["--set", "latent_channels=2", "--set", "n_controls=2", "--set", "pca_components=4"]
TINY_CNN += ["--set", "refine_steps=0", "--set", "batch_size=4"]


def ringing_note(seconds: float, f0: float, *, silence_after: float = 0.0) -> np.ndarray:
    """A note that sounds for ``seconds`` (decaying, still audible at its end), then silence."""
    t = np.arange(int(seconds * RATE)) / RATE
    note = 0.5 * np.sin(2 * np.pi * f0 * t) * np.exp(-t / (seconds / 2))
    return np.concatenate([note, np.zeros(int(silence_after * RATE))]).astype(np.float32)


def test_the_length_holds_nine_in_ten_sounds_rounded_up_to_a_quarter_second():
    assert choose_clip_seconds([1.5] * 20).seconds == 1.5
    assert choose_clip_seconds([1.49] * 20).seconds == 1.5
    assert choose_clip_seconds([1.3] * 20).seconds == 1.5
    assert choose_clip_seconds([0.3] * 18 + [3.0] * 2).seconds == 0.5  # two long strays are cut
    assert choose_clip_seconds([0.3] * 10 + [2.2] * 10).seconds == 2.25
    assert choose_clip_seconds([12.0] * 5).seconds == MAX_CLIP_S
    assert "cap" in choose_clip_seconds([12.0] * 5).describe()
    assert choose_clip_seconds([0.05] * 5, minimum=0.5).seconds == 0.5
    empty = choose_clip_seconds([])
    assert empty.seconds == 1.0 and empty.sounds == 0 and math.isnan(empty.measured_s)


def test_a_sound_lasts_from_its_onset_to_where_it_has_decayed_away():
    sound = np.concatenate(
        [np.zeros(RATE // 4, np.float32), ringing_note(0.8, 300, silence_after=1)]
    )
    assert sound_duration(sound, RATE) == pytest.approx(0.8, abs=0.02)
    assert sound_duration(np.zeros(RATE, np.float32), RATE) == 0.0


def test_a_folder_of_padded_notes_is_measured_by_the_notes_not_the_files(tmp_path):
    for i in range(6):
        sf.write(tmp_path / f"n{i}.wav", ringing_note(0.7, 200 + 50 * i, silence_after=1.3), RATE)
    choice = clip_length_for_folder(tmp_path)
    assert choice.seconds == 0.75 and choice.sounds == 6
    assert "0.75 s" in choice.describe() and "clip_seconds" in choice.describe()


def test_a_folder_of_one_and_a_half_second_notes_trains_a_model_that_renders_them_whole(
    tmp_path, capsys
):
    sounds = tmp_path / "notes"
    sounds.mkdir()
    for i in range(8):
        sf.write(
            sounds / f"note{i}__p{57 + i:03d}.wav", ringing_note(1.5, 220 * 2 ** (i / 12)), RATE
        )
    run = tmp_path / "run"
    argv = ["train", str(sounds), "--out", str(run), *TINY_CNN, "--steps", "2"]
    assert cli.main([*argv, "--progress", "none"]) == 0
    assert "clip length 1.5 s" in capsys.readouterr().err
    assert json.loads((run / "model.json").read_text())["config"]["clip_seconds"] == 1.5
    audio = open_model(run).generate(n=1, seed=0)
    assert audio.shape[-1] == int(1.5 * RATE)

    chosen = tmp_path / "chosen"
    argv = ["train", str(sounds), "--out", str(chosen), *TINY_CNN, "--steps", "1"]
    assert cli.main([*argv, "--set", "clip_seconds=0.5", "--progress", "none"]) == 0
    assert "clip length" not in capsys.readouterr().err  # the user's choice stands, unremarked
    assert open_model(chosen).generate(n=1, seed=0).shape[-1] == RATE // 2

    shown = tmp_path / "shown"
    argv = ["train", str(sounds), "--out", str(shown), *TINY_CNN, "--steps", "1"]
    assert cli.main([*argv, "--progress", "jsonl"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    start = next(e for e in events if e["event"] == "start")
    assert start["clip_seconds"] == 1.5  # what the training panel shows
