"""The built-in starter dataset: what a first launch with no sounds of one's own learns from."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import soundfile as sf
import torch

from synth_core.builtin import builtin_clips, render_builtin, starter_sounds
from synth_core.cli import main
from synth_core.dataset import load_clips, pitch_from_name
from synth_core.errors import DatasetError


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Rendering is vectorised per instrument; spare threads only contend on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def starter_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("starter")
    assert main(["starter-data", str(out)]) == 0
    return out


def test_starter_data_writes_a_few_hundred_one_second_clips_with_sidecars(starter_folder):
    train = sorted((starter_folder / "train").glob("*.wav"))
    test = sorted((starter_folder / "test").glob("*.wav"))
    assert 200 <= len(train) + len(test) <= 500 and len(test) >= 40
    kinds = {path.name.split("_")[0] for path in train}
    assert kinds == {"pluck", "bar", "marimba", "bell", "drum", "tube", "hit"}
    for path in train[::25] + test[::10]:
        info = sf.info(path)
        assert info.samplerate == 44100 and info.frames == 44100 and info.channels == 1
        sidecar = json.loads(path.with_suffix(".json").read_text())
        assert sidecar["name"] == path.stem
        assert sidecar["instrument"] in {"string", "bar", "marimba", "bell", "membrane", "tube"}
        assert sidecar["split"] == path.parent.name
        if sidecar["pitch"] is None:
            assert pitch_from_name(path) is None
        else:
            assert pitch_from_name(path) == sidecar["pitch"]
            assert path.stem.endswith(f"__p{int(sidecar['pitch']):03d}")


def test_starter_folder_loads_as_a_labelled_training_set(starter_folder):
    clips = load_clips(starter_folder / "train", sample_rate=44100, seconds=1.0, cache=False)
    assert len(clips) == len(starter_sounds("train"))
    assert clips.has_pitch and not bool(clips.pitch.isfinite().all())  # noise hits have none


def test_test_split_holds_combinations_the_training_split_never_has():
    train, test = starter_sounds("train"), starter_sounds("test")

    def combination(sound):
        return (sound.kind, sound.pitch, tuple(sorted(sound.parameters.items())))

    train_combinations = {combination(s) for s in train}
    assert not train_combinations & {combination(s) for s in test}
    # …while every pitch and every timbre of the test split is heard in training.
    for sound in test:
        assert any(s.kind == sound.kind and s.pitch == sound.pitch for s in train)
        assert any(s.kind == sound.kind and s.parameters == sound.parameters for s in train)
    assert {s.name for s in train}.isdisjoint({s.name for s in test})


def test_builtin_clips_are_deterministic_and_match_the_written_files(starter_folder):
    clips = builtin_clips("test")
    again, sounds = render_builtin("test")
    assert torch.equal(clips.audio, again)
    assert clips.audio.dtype == torch.float32 and clips.audio.shape[1] == 44100
    assert float(clips.audio.abs().max()) <= 1.0
    assert float(clips.audio.mean(-1).abs().max()) < 1e-3
    for row, sound in enumerate(sounds):
        expected = sound.pitch if sound.named_pitch else math.nan
        assert clips.pitch[row].item() == pytest.approx(expected, nan_ok=True)
    written, _ = sf.read(starter_folder / "test" / f"{sounds[0].name}.wav", dtype="float32")
    assert torch.allclose(torch.from_numpy(written), clips.audio[0], atol=1e-6)


def test_an_unknown_split_is_refused_by_name():
    with pytest.raises(DatasetError, match="valid"):
        starter_sounds("valid")
