"""The gan family: hinge + feature matching + DiffAugment, GANSpace controls, save and load."""

from __future__ import annotations

import copy

import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from synth_core.errors import ModelConfigError
from synth_core.models import get_family
from synth_core.models.base import Batch, Learner, SoundModel
from synth_core.models.gan import GANConfig, GANModel, diff_augment
from tests.core.frame_family_sounds import one_thread, tiny_clip_set

CONFIG = GANConfig(sample_rate=16000, clip_seconds=0.25, channels=32, latent=8, batch_size=8)


@pytest.fixture(scope="module")
def trained() -> tuple[GANModel, object, list[dict[str, float]]]:
    torch.manual_seed(0)
    clips = tiny_clip_set(n=16)
    model = GANModel.from_config(CONFIG)
    model.begin(clips)
    history = []
    with one_thread():
        for i in range(30):
            half = slice(i % 2, None, 2)
            batch = Batch(clips.audio[half], clips.pitch[half], torch.arange(16)[half])
            history.append(model.step(batch))
        model.end(clips)
    return model, clips, history


def test_gan_is_registered_and_meets_the_model_interface(trained) -> None:
    model, _, _ = trained
    assert get_family("gan").model_class is GANModel
    assert isinstance(model, SoundModel) and isinstance(model, Learner)


def test_training_steps_report_finite_losses_and_move_the_generator(trained) -> None:
    model, _, history = trained
    assert all(set(h) == {"d_loss", "g_loss", "feature_matching"} for h in history)
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)
    fresh = GANModel.from_config(CONFIG)
    assert not torch.equal(fresh.generator.out.weight, model.generator.out.weight)


def test_diff_augment_keeps_shape_and_fills_with_silence() -> None:
    x = torch.ones(4, 3, 32)
    silence = torch.full((3,), -7.0)
    out = diff_augment(x, silence, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    # a quarter of every sound is cut out to silence; the rest is offset by at most ±0.2
    assert ((out == -7.0).all(dim=1).sum(dim=1) >= 8).all()
    kept = out[out != -7.0]
    assert ((kept - 1.0).abs() <= 0.2 + 1e-6).all()


def test_augmentation_is_differentiable() -> None:
    x = torch.randn(2, 3, 16, requires_grad=True)
    diff_augment(x, torch.zeros(3)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_same_seed_same_sound_and_axes_change_it(trained) -> None:
    model, _, _ = trained
    first = model.generate(n=2, seed=3)
    assert first.shape == (2, 4000) and first.abs().max() <= 1.0
    assert torch.equal(first, model.generate(n=2, seed=3))
    assert not torch.equal(first, model.generate(n=2, seed=4))
    moved = model.generate({"axis_1": 3.0}, n=2, seed=3)
    assert not torch.allclose(first, moved)
    assert model.space_std[0] > 0


def test_state_and_optimiser_round_trip_through_safetensors(trained) -> None:
    model, clips, _ = trained
    blob = save_tensors({k: v.contiguous() for k, v in model.state().items()})
    fresh = GANModel.from_config(GANConfig.from_dict(model.config.to_dict()))
    fresh.load_state(load_tensors(blob))
    assert torch.equal(fresh.generate(n=2, seed=5), model.generate(n=2, seed=5))
    optimiser = save_tensors({k: v.contiguous() for k, v in model.optimizer_state().items()})
    fresh.load_optimizer_state(load_tensors(optimiser))
    # Resumed training continues exactly where the original would have: one step on each.
    cold = GANModel.from_config(model.config)
    cold.load_state(model.state())
    original = copy.deepcopy(model)
    batch = Batch(clips.audio[:8], clips.pitch[:8], torch.arange(8))
    results = []
    for learner in (original, fresh, cold):
        learner.remember_training_set(*model.analyze(clips.audio, clips.pitch))
        torch.manual_seed(9)
        results.append(learner.step(batch))
    assert results[1] == pytest.approx(results[0], rel=1e-5)
    assert results[2] != pytest.approx(results[0], rel=1e-5)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ModelConfigError, match="latent"):
        GANConfig.from_dict({"latent": 1})
    with pytest.raises(ModelConfigError, match="not been trained"):
        GANModel.from_config(CONFIG).generate(seed=0)
