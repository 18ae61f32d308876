"""The Trainer as a user meets it: budgets, progress, stop, pause, resume, and a NaN that does not
end the run."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from synth_core import checkpoint
from synth_core.dataset import load_clips
from synth_core.errors import DeviceError, ModelConfigError
from synth_core.models.cnn import CNNModel
from synth_core.models.spectral import SpectralConfig
from synth_core.train import (
    Budget,
    Callbacks,
    Trainer,
    augment,
    build_learner,
    select_device,
    split_held_out,
)

RATE = 22050
CONFIG = SpectralConfig(
    sample_rate=RATE, clip_seconds=0.25, channels=16, latent_channels=2, n_controls=2, batch_size=4
)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("sounds")
    t = np.arange(int(RATE * 0.25)) / RATE
    rng = np.random.default_rng(0)
    for i in range(12):
        note = 50 + 2 * i
        f0 = 440 * 2 ** ((note - 69) / 12)
        x = (np.sin(2 * np.pi * f0 * t) + 0.1 * rng.normal(size=t.size)) * np.exp(-t * 8) * 0.4
        sf.write(folder / f"s{i:02d}__p{note:03d}.wav", x.astype(np.float32), RATE)
    return load_clips(folder, sample_rate=RATE, seconds=0.25, cache=False)


def fresh_model() -> CNNModel:
    torch.manual_seed(0)
    return CNNModel.from_config(CONFIG)


def test_a_step_budget_trains_exactly_that_many_steps_and_reports_progress(clips):
    reports = []
    result = Trainer(
        fresh_model(), clips, Budget(steps=6), Callbacks(progress=reports.append), device="cpu"
    ).run()
    assert result.step == 6 and not result.stopped
    last = reports[-1]
    assert (last.step, last.total, last.fraction, last.device) == (6, 6, 1.0, "cpu")
    assert last.lr == CONFIG.learning_rate
    assert {"loss", "spectral", "convergence"} <= set(last.losses)
    assert "held_out_loss" in result.metrics


def test_a_stop_request_ends_the_run_after_the_current_step_with_a_checkpoint(clips, tmp_path):
    steps_seen = []

    def should_stop() -> bool:
        return len(steps_seen) >= 3

    result = Trainer(
        fresh_model(),
        clips,
        Budget(steps=100),
        Callbacks(step_done=steps_seen.append, should_stop=should_stop),
        run_dir=tmp_path / "run",
    ).run()
    assert result.stopped and result.step == 3
    assert checkpoint.read_record(tmp_path / "run").step == 3


def test_pause_holds_training_until_resume(clips):
    model = fresh_model()
    holding = threading.Event()
    trainer: Trainer

    def on_step(step: int) -> None:
        if step == 2:
            trainer.pause()
            holding.set()

    trainer = Trainer(model, clips, Budget(steps=5), Callbacks(step_done=on_step))
    worker = threading.Thread(target=trainer.run)
    worker.start()
    assert holding.wait(60)
    worker.join(0.5)
    assert worker.is_alive() and trainer.paused and trainer.step == 2
    trainer.resume()
    worker.join(60)
    assert not worker.is_alive() and trainer.step == 5


def test_resumed_run_continues_from_its_checkpoint_to_the_same_budget(clips, tmp_path):
    run = tmp_path / "run"
    Trainer(fresh_model(), clips, Budget(steps=4), run_dir=run, log_every=1).run()
    model = fresh_model()
    trainer = Trainer(model, clips, Budget(steps=7), run_dir=run, log_every=1)
    assert trainer.restore(run) == 4
    saved = checkpoint.read_weights(run)[0]
    assert all(torch.equal(model.state()[k], v) for k, v in saved.items())
    result = trainer.run()
    assert result.step == 7
    assert [e["step"] for e in checkpoint.read_history(run)] == list(range(1, 8))


def test_nan_loss_rolls_back_halves_the_learning_rate_and_training_goes_on(clips):
    model = fresh_model()
    warnings = []

    poisoned = []

    def poison(step: int) -> None:
        if step == 4 and not poisoned:  # corrupt the live weights once, as a bad update would
            poisoned.append(step)
            with torch.no_grad():
                model.decoder[-1].weight.fill_(float("nan"))

    result = Trainer(
        model,
        clips,
        Budget(steps=8),
        Callbacks(step_done=poison, warning=lambda step, message: warnings.append(message)),
    ).run()
    assert result.step == 8
    assert len(warnings) == 1 and "halved the learning rate" in warnings[0]
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(CONFIG.learning_rate / 2)
    assert all(
        bool(torch.isfinite(t).all()) for t in model.state().values() if t.is_floating_point()
    )


def test_held_out_split_is_stable_and_disjoint(clips):
    train_a, held_a = split_held_out(clips)
    train_b, held_b = split_held_out(clips)
    assert held_a.paths == held_b.paths and len(held_a) >= 1
    assert not set(held_a.paths) & set(train_a.paths)
    assert len(train_a) + len(held_a) == len(clips)


def test_augmentation_keeps_shape_and_moves_pitch_labels_with_the_sound(clips):
    generator = torch.Generator().manual_seed(0)
    audio, pitch = augment(clips.audio, clips.pitch, generator)
    assert audio.shape == clips.audio.shape
    shift = pitch - clips.pitch
    assert bool((shift.abs() <= 0.3 + 1e-6).all()) and bool((shift != 0).any())
    assert not torch.equal(audio, clips.audio)


def test_small_folders_are_augmented_unless_the_family_opts_out(clips):
    spectral = Trainer(fresh_model(), clips, Budget(steps=1), device="cpu")
    assert not spectral.augment  # the spectral families learn exact partial positions
    assert not Trainer(build_learner("gan"), clips, Budget(steps=1), device="cpu").augment
    for name in ("gmm", "hmm", "rnn"):  # they learn from frames analysed in begin()
        assert not Trainer(build_learner(name), clips, Budget(steps=1), device="cpu").augment
    physical = Trainer(build_learner("physical"), clips, Budget(steps=1), device="cpu")
    assert physical.augment  # no opinion: a folder of 12 clips is augmented
    forced = Trainer(fresh_model(), clips, Budget(steps=1), device="cpu", augment_data=True)
    assert forced.augment


def test_asking_for_a_missing_device_is_a_clear_error():
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            select_device("cuda")
    with pytest.raises(DeviceError, match="unknown device"):
        select_device("toaster")
    assert select_device("cpu").type == "cpu"


def test_presets_and_settings_build_the_configured_model_and_bad_ones_are_named():
    model = build_learner("cnn", preset="quick", settings={"latent_channels": 3, "n_controls": 4})
    assert model.config.latent_channels == 3 and model.config.channels == 64
    with pytest.raises(ModelConfigError, match="no preset 'huge'"):
        build_learner("cnn", preset="huge")
    with pytest.raises(ModelConfigError, match="unknown setting"):
        build_learner("vae", settings={"latent_size": 3})
    with pytest.raises(ModelConfigError, match="needs steps, minutes"):
        Budget()


def test_training_in_memory_writes_nothing(clips, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Trainer(fresh_model(), clips, Budget(steps=2)).run()
    assert list(Path(tmp_path).iterdir()) == []
