"""Every model family goes through the same story: build a tiny model, train it for a few steps on
a tiny folder of sounds, save it, load it back, and play it.

A family joins automatically once ``synth_core.models.available_families()`` lists it; the toy
family of ``tests/support/toy_family.py`` (one file, one registry line) runs through it too. The
tiny build uses the family's ``TINY`` settings (a dict on the model class or its module) when it has
them, else its ``"quick"`` preset, with clips shortened to 0.5 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from synth_core import checkpoint
from synth_core.dataset import load_clips
from synth_core.models import available_families, get_family
from synth_core.models.base import Control, SoundModel, resolve_values
from synth_core.train import Budget, Callbacks, Trainer, build_learner, family_presets

SAMPLE_RATE = 44100
SECONDS = 0.5
FAMILIES = list(dict.fromkeys([family.name for family in available_families()] + ["toy"]))


@pytest.fixture(scope="module", autouse=True)
def _toy_registered(toy_family):
    """The toy family is in the registry while these tests run."""


def tiny_settings(model_class: type) -> dict:
    tiny = getattr(model_class, "TINY", None)
    if tiny is None:
        tiny = getattr(sys.modules[model_class.__module__], "TINY", None)
    settings = (
        dict(tiny) if tiny is not None else dict(family_presets(model_class).get("quick", {}))
    )
    settings.update({"sample_rate": SAMPLE_RATE, "clip_seconds": SECONDS})
    return settings


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve labelled one-shots: decaying harmonic tones and noisy hits at several pitches."""
    folder = tmp_path_factory.mktemp("tiny_sounds")
    rng = np.random.default_rng(1)
    t = np.arange(int(SAMPLE_RATE * SECONDS)) / SAMPLE_RATE
    for i in range(12):
        note = 48 + 3 * i
        f0 = 440.0 * 2 ** ((note - 69) / 12)
        tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 5))
        noise = rng.normal(size=t.size) * (0.5 if i % 3 == 0 else 0.05)
        sound = 0.3 * (tone + noise) * np.exp(-t * (4 + i % 4 * 3))
        sf.write(folder / f"hit{i:02d}__p{note:03d}.wav", sound.astype(np.float32), SAMPLE_RATE)
    return folder


@pytest.fixture(scope="module")
def trained(tiny_folder: Path, tmp_path_factory: pytest.TempPathFactory):
    """family name -> (model trained for 3 steps, its run directory); trained once per module."""
    cache: dict[str, tuple[object, Path]] = {}

    def get(name: str):
        if name not in cache:
            from synth_core.models import get_family

            model_class = get_family(name).model_class
            model = build_learner(name, settings=tiny_settings(model_class))
            clips = load_clips(tiny_folder, sample_rate=SAMPLE_RATE, seconds=SECONDS, cache=False)
            run = tmp_path_factory.mktemp(f"run_{name}")
            Trainer(model, clips, Budget(steps=3), run_dir=run, device="cpu", batch_size=4).run()
            cache[name] = (model, run)
        return cache[name]

    return get


@pytest.mark.parametrize("name", FAMILIES)
def test_trained_model_reloads_and_plays_the_same_sound_for_the_same_seed(name, trained):
    model, run = trained(name)
    reloaded = checkpoint.read_model(run)
    assert reloaded.family == name
    assert reloaded.config == model.config
    before = model.generate(n=2, seed=1234)
    after = reloaded.generate(n=2, seed=1234)
    assert torch.equal(before, after)


@pytest.mark.parametrize("name", FAMILIES)
def test_generated_sounds_are_playable_float32_batches(name, trained):
    model, _ = trained(name)
    assert isinstance(model, SoundModel)
    audio = model.generate(n=3, seed=5)
    assert audio.dtype == torch.float32
    assert audio.ndim == 2 and audio.shape[0] == 3 and audio.shape[1] > 0
    assert bool(torch.isfinite(audio).all())
    assert float(audio.abs().max()) <= 1.0
    assert float(audio.abs().max()) > 0.0, "a trained model should not be silent"


@pytest.mark.parametrize("name", FAMILIES)
def test_controls_describe_valid_sliders_and_each_slider_plays_at_both_ends(name, trained):
    model, _ = trained(name)
    controls = model.controls()
    assert all(isinstance(c, Control) for c in controls)
    names = [c.name for c in controls]
    assert len(names) == len(set(names)), f"duplicate control names: {names}"
    defaults = resolve_values(controls, None)
    assert defaults == {c.name: c.default for c in controls}
    for control in controls:
        for value in (control.minimum, control.maximum):
            audio = model.generate({control.name: value}, n=1, seed=0)
            assert bool(torch.isfinite(audio).all()), f"{control.name}={value} gave NaN"
            assert float(audio.abs().max()) <= 1.0


@pytest.mark.parametrize("name", FAMILIES)
def test_run_directory_has_the_documented_files(name, trained):
    _, run = trained(name)
    record = checkpoint.read_record(run)
    assert record.family == name
    assert record.step == 3
    assert record.sample_rate == SAMPLE_RATE
    assert record.dataset["fingerprint"]
    assert (run / checkpoint.WEIGHTS_FILE).is_file()


@pytest.mark.parametrize("name", FAMILIES)
def test_training_on_the_best_device_previews_and_resumes(name, tiny_folder, tmp_path):
    """The default device (a GPU where there is one, as in the app) with previews on, then a
    resume. On a GPU both once failed: a preview mixed CPU and GPU tensors, and a resumed
    optimiser kept its state on the CPU (``bench/gpu_check.sh``); on a CPU this still checks
    that a preview during training is a playable sound."""
    settings = tiny_settings(get_family(name).model_class)
    clips = load_clips(tiny_folder, sample_rate=SAMPLE_RATE, seconds=SECONDS, cache=False)
    previews = []
    callbacks = Callbacks(preview=previews.append)
    run = tmp_path / "run"
    first = Trainer(
        build_learner(name, settings=settings), clips, Budget(steps=2), run_dir=run,
        batch_size=4, callbacks=callbacks, preview_every_s=1e-9,
    )  # fmt: skip
    first.run()
    again = Trainer(
        build_learner(name, settings=settings), clips, Budget(steps=4), run_dir=run,
        batch_size=4, callbacks=callbacks, preview_every_s=1e-9,
    )  # fmt: skip
    assert again.restore(run) == 2
    assert again.run().step == 4
    assert len(previews) >= 2
    for preview in previews:
        assert preview.audio.device.type == "cpu" and bool(torch.isfinite(preview.audio).all())
        assert preview.audio.shape[-1] == int(SAMPLE_RATE * SECONDS)
