"""The gan family: an instance-conditioned GAN over sound codes, GANSpace controls, save and load."""

from __future__ import annotations

import copy

import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from synth_core.errors import ModelConfigError
from synth_core.models import get_family
from synth_core.models.base import Batch, Learner, SoundModel
from synth_core.models.gan import GANConfig, GANModel
from tests.core.frame_family_sounds import one_thread, tiny_clip_set

CONFIG = GANConfig(sample_rate=16000, clip_seconds=0.25, hidden=32, latent=4, code_dims=6)
STARTED_FROM: dict[str, torch.Tensor] = {}  # the trained fixture's weights before its steps


@pytest.fixture(scope="module")
def trained() -> tuple[GANModel, object, list[dict[str, float]]]:
    torch.manual_seed(0)
    clips = tiny_clip_set(n=16)
    model = GANModel.from_config(CONFIG)
    model.begin(clips)
    STARTED_FROM.update({k: v.clone() for k, v in model.state_dict().items()})
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


def test_training_steps_report_finite_losses_and_move_both_networks(trained) -> None:
    model, _, history = trained
    assert all(set(h) == {"d_loss", "g_loss", "r1"} for h in history)
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)
    now = model.state_dict()
    for name in ("generator.net.4.weight", "discriminator.4.weight"):
        assert not torch.equal(STARTED_FROM[name], now[name])


def test_codes_decode_back_to_the_training_features_they_came_from(trained) -> None:
    model, clips, _ = trained
    features, _ = model.analyze(clips.audio, clips.pitch)
    codes = model._codes(features)
    assert torch.allclose(codes, model.instances, atol=1e-4)
    # 6 axes of 16 sounds keep most of what varies between them
    rebuilt = model._features(codes)
    spread = (features - features.mean(0)).square().sum()
    assert float((rebuilt - features).square().sum() / spread) < 0.5


def test_the_critic_sees_each_sound_or_a_near_neighbour_as_real_for_its_code(trained) -> None:
    model, clips, _ = trained
    table = model._neighbour_table()
    n = len(clips.audio)
    assert table.shape == (n, 1 + min(model.config.neighbours, n - 1))
    assert torch.equal(table[:, 0], torch.arange(n))  # each sound first, then its neighbours
    codes = model.instances
    distances = torch.cdist(codes, codes)
    kept = distances.gather(1, table[:, 1:]).amax(1)
    left_out = torch.zeros_like(distances, dtype=torch.bool).scatter(1, table, True)
    outside = distances.masked_fill(left_out, float("inf")).amin(1)
    assert bool((kept <= outside + 1e-5).all())  # the neighbours are the nearest by code


def test_same_seed_same_sound_and_axes_change_it(trained) -> None:
    model, _, _ = trained
    first = model.generate(n=2, seed=3)
    assert first.shape == (2, 4000) and first.abs().max() <= 1.0
    assert torch.equal(first, model.generate(n=2, seed=3))
    assert not torch.equal(first, model.generate(n=2, seed=4))
    moved = model.generate({"axis_1": 3.0}, n=2, seed=3)
    assert not torch.allclose(first, moved)
    assert model.space_std[0] > 0
    # no variety: the generator's typical variation of the chosen sound, the same every time
    assert torch.equal(
        model.generate({"truncation": 0.0}, n=1, seed=5),
        model.generate({"truncation": 0.0}, n=1, seed=5),
    )


def test_reconstruction_goes_through_the_code(trained) -> None:
    model, clips, _ = trained
    rebuilt = model.reconstruct(clips.audio[:3], pitch=clips.pitch[:3])
    assert rebuilt.shape == clips.audio[:3].shape and rebuilt.abs().max() <= 1.0
    assert model.encode(clips.audio[:3]).shape == (3, CONFIG.code_dims)


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
    results, weights = [], []
    for learner in (original, fresh, cold):
        torch.manual_seed(9)
        results.append(learner.step(batch))
        weights.append(torch.cat([p.detach().flatten() for p in learner.parameters()]))
    assert results[1] == pytest.approx(results[0], rel=1e-5)
    assert torch.allclose(weights[1], weights[0], rtol=0, atol=1e-7)
    # without the optimiser's moments the same step moves the weights elsewhere (the losses it
    # reports are computed before most of that move, so they can agree to 1e-5)
    assert (weights[2] - weights[0]).abs().max() > 1e-6


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ModelConfigError, match="latent"):
        GANConfig.from_dict({"latent": 1})
    with pytest.raises(ModelConfigError, match="neighbours"):
        GANConfig.from_dict({"neighbours": -1})
    with pytest.raises(ModelConfigError, match="not been trained"):
        GANModel.from_config(CONFIG).generate(seed=0)


def test_a_gan_saved_by_the_earlier_design_is_refused_with_a_clear_message(trained) -> None:
    model, _, _ = trained
    state = {k: v for k, v in model.state().items() if k not in {"instances", "code_axes"}}
    with pytest.raises(ModelConfigError, match="train it again"):
        GANModel.from_config(model.config).load_state(state)
