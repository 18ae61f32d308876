"""The gan family: the cnn's autoencoder plus an instance-conditioned GAN that places new sounds
among the training sounds' latents; training, drawing, sliders, save and resume."""

from __future__ import annotations

import copy

import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from synth_core.errors import ModelConfigError
from synth_core.models import get_family
from synth_core.models.base import Batch, LearnerBase, SoundModel
from synth_core.models.gan import TINY, GANConfig, GANModel
from tests.core.frame_family_sounds import one_thread, tiny_clip_set

CONFIG = GANConfig.from_dict(
    TINY
    | {"sample_rate": 16000, "clip_seconds": 0.25, "neighbours": 3, "gan_steps": 2}
    | {"diversity": 0.1}  # the mode-seeking term (off by default) is exercised too
)
STARTED_FROM: dict[str, torch.Tensor] = {}  # the trained fixture's weights before its steps
COUNT = 16


@pytest.fixture(scope="module")
def trained() -> tuple[GANModel, object, list[dict[str, float]]]:
    torch.manual_seed(0)
    clips = tiny_clip_set(n=COUNT)
    model = GANModel.from_config(CONFIG)
    model.begin(clips)
    STARTED_FROM.update({k: v.clone() for k, v in model.state_dict().items()})
    history = []
    with one_thread():
        for i in range(30):
            half = slice(i % 2, None, 2)
            batch = Batch(clips.audio[half], clips.pitch[half], torch.arange(COUNT)[half])
            history.append(model.step(batch))
        model.eval()
        with torch.no_grad():
            model.end(clips)
    return model, clips, history


def test_gan_is_registered_and_meets_the_model_interface(trained) -> None:
    model, _, _ = trained
    assert get_family("gan").model_class is GANModel
    assert isinstance(model, SoundModel) and isinstance(model, LearnerBase)


def test_steps_train_the_autoencoder_the_critic_and_the_generator(trained) -> None:
    model, _, history = trained
    expected = {"loss", "spectral", "delta", "convergence", "d_loss", "g_loss", "r1", "move"}
    assert all(set(h) == expected for h in history)
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)
    now = model.state_dict()
    for name in ("decoder.0.weight", "generator.4.weight", "critic.4.weight"):
        assert not torch.equal(STARTED_FROM[name], now[name]), name
    # the draws come from the moving average, which follows the generator but lags it
    average, current = now["generator_ema.4.weight"], now["generator.4.weight"]
    assert not torch.equal(STARTED_FROM["generator_ema.4.weight"], average)
    assert not torch.equal(average, current)


def test_a_step_writes_its_batch_latents_into_the_table_and_validation_does_not() -> None:
    clips = tiny_clip_set(n=8)
    model = GANModel.from_config(CONFIG)
    model.begin(clips)
    assert model.train_latents.shape == (8, CONFIG.latent_dim)
    rows = torch.tensor([1, 4, 6])
    with torch.no_grad():
        before = model.encode(clips.audio[rows], pitch=clips.pitch[rows])
    others = model.train_latents[[0, 2, 3, 5, 7]].clone()
    with one_thread():
        model.step(Batch(clips.audio[rows], clips.pitch[rows], rows))
    # the table holds what the encoder gave during the step (before the weights moved)
    assert torch.allclose(model.train_latents[rows], before, atol=1e-5)
    assert torch.equal(model.train_latents[[0, 2, 3, 5, 7]], others)
    table = model.train_latents.clone()
    with torch.no_grad():  # a held-out batch's positions are not rows of the training table
        model.validate(Batch(clips.audio[:3], clips.pitch[:3], torch.tensor([0, 1, 2])))
    assert torch.equal(model.train_latents, table)


def test_neighbours_are_the_nearest_other_sounds_by_latent(trained) -> None:
    model, _, _ = trained
    near = model.neighbours()
    assert near.shape == (COUNT, CONFIG.neighbours)
    assert not bool((near == torch.arange(COUNT)[:, None]).any())
    distances = torch.cdist(model.train_latents, model.train_latents)
    distances.fill_diagonal_(float("inf"))
    kept = distances.gather(1, near).amax(1)
    outside = distances.scatter(1, near, float("inf")).amin(1)
    assert bool((kept <= outside + 1e-5).all())


def test_draws_move_part_way_from_a_training_sound_towards_its_neighbours(trained) -> None:
    model, _, _ = trained
    anchors = torch.arange(COUNT).repeat(4)
    z = torch.randn(len(anchors), CONFIG.noise, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        alpha = model.moves(model.generator_ema, anchors, z)
        draws = model.place(anchors, alpha)
    assert alpha.shape == (len(anchors), CONFIG.neighbours)
    # a share of a softmax over the sound and its neighbours: a draw never overshoots them
    assert bool((alpha >= 0).all()) and bool((alpha.sum(1) <= CONFIG.reach + 1e-6).all())
    table, near = model.train_latents, model.neighbours()
    rebuilt = (1 - alpha.sum(1, keepdim=True)) * table[anchors] + torch.einsum(
        "nk,nkd->nd", alpha, table[near[anchors]]
    )
    assert torch.allclose(draws, rebuilt, atol=1e-4)


def test_an_untrained_generator_makes_near_copies() -> None:
    clips = tiny_clip_set(n=8)
    model = GANModel.from_config(CONFIG)
    model.begin(clips)
    anchors = torch.arange(8)
    with torch.no_grad():
        alpha = model.moves(model.generator_ema, anchors, torch.randn(8, CONFIG.noise))
    # every move starts at reach · e⁰ / (e³ + k·e⁰): 4.3 % of the reach towards each of 3
    expected = CONFIG.reach / (torch.e**3 + 3)
    assert torch.allclose(alpha, torch.full_like(alpha, expected), atol=1e-6)


def test_same_seed_same_sound_and_the_sliders_change_it(trained) -> None:
    model, _, _ = trained
    names = {c.name for c in model.controls()}
    assert {"axis_1", "variety", "grain"} <= names
    first = model.generate(n=2, seed=3)
    assert first.shape == (2, 4000) and first.abs().max() <= 1.0
    assert torch.equal(first, model.generate(n=2, seed=3))
    assert not torch.equal(first, model.generate(n=2, seed=4))
    assert not torch.allclose(first, model.generate({"axis_1": 3.0}, n=2, seed=3))
    assert not torch.allclose(first, model.generate({"variety": 2.0}, n=2, seed=3))


def test_the_sliders_are_the_main_axes_of_the_generators_draws(trained) -> None:
    model, _, _ = trained
    # GANSpace at the output: the axes are fitted to draws, not to the training latents
    training_axes = model.train_latents - model.train_latents.mean(0)
    _, _, vh = torch.linalg.svd(training_axes, full_matrices=False)
    assert not torch.allclose(model.axes.components[0].abs(), vh[0].abs(), atol=1e-3)
    assert bool((model.axes.scales[: CONFIG.n_controls] > 0).all())


def test_reconstruction_goes_through_the_autoencoder(trained) -> None:
    model, clips, _ = trained
    rebuilt = model.reconstruct(clips.audio[:3], pitch=clips.pitch[:3])
    assert rebuilt.shape == clips.audio[:3].shape and rebuilt.abs().max() <= 1.0
    assert model.encode(clips.audio[:3]).shape == (3, CONFIG.latent_dim)


def test_state_and_three_optimisers_round_trip_through_safetensors(trained) -> None:
    model, clips, _ = trained
    blob = save_tensors({k: v.contiguous() for k, v in model.state().items()})
    fresh = GANModel.from_config(GANConfig.from_dict(model.config.to_dict()))
    fresh.load_state(load_tensors(blob))
    assert torch.equal(fresh.generate(n=2, seed=5), model.generate(n=2, seed=5))
    flat = model.optimizer_state()
    assert {name.split(".")[0] for name in flat} == {"ae", "g", "d"}
    fresh.load_optimizer_state(
        load_tensors(save_tensors({k: v.contiguous() for k, v in flat.items()}))
    )
    # resumed training continues exactly where the original would have: one step on each
    cold = GANModel.from_config(model.config)
    cold.load_state(model.state())
    original = copy.deepcopy(model)
    batch = Batch(clips.audio[:8], clips.pitch[:8], torch.arange(8))
    weights = []
    with one_thread():
        for learner in (original, fresh, cold):
            torch.manual_seed(9)
            learner.step(batch)
            weights.append(torch.cat([p.detach().flatten() for p in learner.parameters()]))
    assert torch.allclose(weights[1], weights[0], rtol=0, atol=1e-6)
    # without the optimisers' moments the same step moves the weights elsewhere
    assert (weights[2] - weights[0]).abs().max() > 1e-5


def test_bad_settings_are_refused_by_name() -> None:
    for key, value in (("neighbours", 0), ("ema", 1.0), ("gan_learning_rate", 0.5), ("reach", 0)):
        with pytest.raises(ModelConfigError, match=key):
            GANConfig.from_dict({key: value})


def test_a_gan_saved_by_the_earlier_frame_code_design_is_refused_with_a_clear_message() -> None:
    earlier = {"sample_rate": 16000, "code_dims": 16, "latent": 16, "n_partials": 24}
    with pytest.raises(ModelConfigError, match="earlier Timbre Lab.*train it again"):
        GANConfig.from_dict(earlier)
