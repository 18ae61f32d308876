"""``timbrelab demo`` and the starter models, end to end on the built-in sounds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

from synth_core.runs import open_model
from synth_core.starter import STARTERS, build_starter, folder_size


@pytest.mark.slow
def test_demo_trains_headless_and_writes_a_sample_pack_it_names(tmp_path):
    out = tmp_path / "pack"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "synth_core.cli",
            "demo",
            "--out",
            str(out),
            "--max-minutes",
            "0.02",
        ],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    sounds = sorted((out / "sounds").glob("*.wav"))
    assert len(sounds) == 8
    assert str((out / "sounds").resolve()) in done.stdout
    assert "Training a vae model" in done.stderr
    for sound in sounds:
        info = soundfile.info(sound)
        assert info.samplerate == 44100 and info.frames > 0
        sidecar = json.loads(sound.with_suffix(".json").read_text())
        assert sidecar["family"] == "vae"
        assert Path(sidecar["model"]) == (out / "model").resolve()
    assert open_model(out / "model").family == "vae"


def test_a_bad_demo_budget_is_refused_with_exit_code_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "synth_core.cli", "demo", "--max-minutes", "0", "--out", "x"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "--max-minutes" in done.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_starter_models_rebuild_to_the_same_weights(tmp_path):
    from synth_core.builtin import builtin_clips
    from synth_core.dataset import ClipSet

    spec = STARTERS[0]
    every = builtin_clips("train")
    few = ClipSet(
        audio=every.audio[::11], pitch=every.pitch[::11], paths=every.paths[::11], sample_rate=44100
    )
    first = build_starter(spec, tmp_path / "a", steps=1, clips=few)
    second = build_starter(spec, tmp_path / "b", steps=1, clips=few)
    weights = "weights.safetensors"
    assert (first / weights).read_bytes() == (second / weights).read_bytes()
    assert not (first / "optimizer.safetensors").exists()
    assert folder_size(first) < 25 * 1024 * 1024
    assert open_model(first).family == spec.family


@pytest.mark.slow
def test_a_starter_saved_before_novelty_gets_it_without_retraining(tmp_path):
    """``refit_novelty`` (``starter_models --novelty-only``) measures the novelty scale of a
    starter that lacks it and stores it, keeping every other tensor as it was."""
    from safetensors.torch import load_file, save_file

    from synth_core.builtin import builtin_clips
    from synth_core.dataset import ClipSet
    from synth_core.starter import refit_novelty

    spec = next(s for s in STARTERS if s.family == "vae")
    every = builtin_clips("train")
    few = ClipSet(
        audio=every.audio[::11], pitch=every.pitch[::11], paths=every.paths[::11], sample_rate=44100
    )
    target = build_starter(spec, tmp_path, steps=1, clips=few)
    weights = target / "weights.safetensors"
    old = {k: v for k, v in load_file(str(weights)).items() if k != "novelty_scale"}
    save_file(old, str(weights))
    assert not open_model(target).draws_new_sounds

    scale = refit_novelty(target, few)
    assert scale is not None and scale > 0
    again = load_file(str(weights))
    assert set(again) == set(old) | {"novelty_scale"}
    # byte for byte (train_pitches holds NaN, which torch.equal never calls equal)
    assert all(again[k].numpy().tobytes() == old[k].numpy().tobytes() for k in old)
    model = open_model(target)
    assert model.draws_new_sounds and float(model.novelty_scale) == pytest.approx(scale)


def test_the_shipped_starter_models_load_play_and_fit_in_25_mb():
    from synth_core.runs import RESOURCES_MODELS

    shipped = [spec for spec in STARTERS if (RESOURCES_MODELS / spec.name).is_dir()]
    assert shipped, "no starter model in resources/models; run `make starter-models`"
    for spec in shipped:
        model = open_model(spec.name)
        assert model.family == spec.family
        audio = model.generate(None, n=2, seed=0)
        assert audio.shape[0] == 2 and bool(audio.abs().max() > 0.01)
    assert folder_size(RESOURCES_MODELS) < 25 * 1024 * 1024


def test_every_learned_family_ships_a_starter_model():
    from synth_core.models import FAMILY_NAMES

    learned = {name for name in FAMILY_NAMES if name != "physical"}
    assert learned <= {spec.family for spec in STARTERS}
