"""The hmm family: Baum-Welch over sound stages, MLPG trajectories, stage controls."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from synth_core.errors import ModelConfigError
from synth_core.models import get_family
from synth_core.models.base import Batch, LearnerBase, SoundModel
from synth_core.models.hmm import HMMConfig, HMMModel, baum_welch, delta_matrix, deltas, mlpg
from tests.core.frame_family_sounds import tiny_clip_set


@pytest.fixture(scope="module")
def trained() -> tuple[HMMModel, object, list[float]]:
    clips = tiny_clip_set(n=16)
    model = HMMModel.from_config(
        HMMConfig(sample_rate=16000, clip_seconds=0.25, states=4, types=2, dims=6)
    )
    model.begin(clips)
    losses = [model.step(Batch(clips.audio))["nll_per_frame"] for _ in range(6)]
    model.end(clips)
    return model, clips, losses


def test_hmm_is_registered_and_meets_the_model_interface(trained) -> None:
    model, _, _ = trained
    assert get_family("hmm").model_class is HMMModel
    assert isinstance(model, SoundModel) and isinstance(model, LearnerBase)


def test_baum_welch_never_lowers_the_likelihood(trained) -> None:
    _, _, losses = trained
    assert all(b <= a + 1e-6 for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] < losses[0]


def test_baum_welch_finds_where_a_two_stage_signal_switches() -> None:
    # 40 frames at level 0 then 60 at level 5: the learned stay probability of stage 1 should
    # give a mean dwell near 40 frames.
    obs = torch.cat([torch.zeros(8, 40, 1), torch.full((8, 60, 1), 5.0)], dim=1).double()
    obs = obs + 0.1 * torch.randn(obs.shape, generator=torch.Generator().manual_seed(0)).double()
    means = torch.tensor([[1.0], [4.0]], dtype=torch.float64)
    variances = torch.ones(2, 1, dtype=torch.float64)
    stay = torch.tensor([0.5, 0.5], dtype=torch.float64)
    floor = torch.full((1,), 1e-4, dtype=torch.float64)
    for _ in range(5):
        means, variances, stay, _ = baum_welch(obs, means, variances, stay, floor)
    assert means[:, 0].tolist() == pytest.approx([0.0, 5.0], abs=0.05)
    assert 1.0 / (1.0 - float(stay[0])) == pytest.approx(40.0, rel=0.1)


def test_mlpg_follows_static_means_when_deltas_are_free_and_smooths_when_not() -> None:
    static = torch.cat([torch.zeros(20), torch.ones(20)])[None, :, None].double()
    mean = torch.cat([static, torch.zeros_like(static)], dim=-1)
    free = torch.cat([torch.ones_like(static), torch.full_like(static, 1e6)], dim=-1)
    assert torch.allclose(mlpg(mean, free).double(), static, atol=1e-4)
    tight = torch.cat([torch.ones_like(static), torch.full_like(static, 1e-3)], dim=-1)
    smooth = mlpg(mean, tight)[0, :, 0]
    assert float(deltas(smooth[None, :, None]).abs().max()) < 0.2
    assert float(smooth[0]) < 0.5 < float(smooth[-1])


def test_banded_mlpg_equals_the_dense_solution() -> None:
    generator = torch.Generator().manual_seed(0)
    frames, p = 30, 3
    mean = torch.randn(2, frames, 2 * p, generator=generator, dtype=torch.float64)
    variance = 0.1 + torch.rand(2, frames, 2 * p, generator=generator, dtype=torch.float64)
    window = torch.cat([torch.eye(frames, dtype=torch.float64), delta_matrix(frames)])
    for b in range(2):
        for d in range(p):
            precision = torch.cat([1 / variance[b, :, d], 1 / variance[b, :, p + d]])
            target = torch.cat([mean[b, :, d], mean[b, :, p + d]])
            lhs = window.T @ (precision[:, None] * window)
            dense = torch.linalg.solve(lhs, window.T @ (precision * target))
            assert torch.allclose(mlpg(mean, variance)[b, :, d].double(), dense, atol=1e-4)


def test_longer_first_stage_delays_the_decay(trained) -> None:
    model, clips, _ = trained
    pluck = int(model.sound_type[torch.isfinite(clips.pitch)][0]) + 1
    settings = {"sound_type": pluck, "variation": 0.0}
    short = model.generate(settings | {"dwell_1": 0.25}, seed=0)[0]
    long = model.generate(settings | {"dwell_1": 4.0}, seed=0)[0]
    half = short.shape[0] // 2
    assert long[half:].square().sum() > short[half:].square().sum()


def test_same_seed_same_sound_and_controls_are_named(trained) -> None:
    model, _, _ = trained
    first = model.generate(n=2, seed=3)
    assert first.shape == (2, 4000) and first.abs().max() <= 1.0
    assert torch.equal(first, model.generate(n=2, seed=3))
    assert not torch.equal(first, model.generate(n=2, seed=4))
    labels = [c.label for c in model.controls() if c.name.startswith("offset_")]
    assert labels and all("≈" in label for label in labels)


def test_state_round_trips_through_safetensors(trained) -> None:
    model, _, _ = trained
    blob = save_tensors({k: v.contiguous() for k, v in model.state().items()})
    fresh = HMMModel.from_config(HMMConfig.from_dict(model.config.to_dict()))
    fresh.load_state(load_tensors(blob))
    assert torch.equal(fresh.generate(n=2, seed=5), model.generate(n=2, seed=5))


def test_reconstruction_keeps_shape(trained) -> None:
    model, clips, _ = trained
    assert model.reconstruct(clips.audio[:3, :3000]).shape == (3, 3000)


def test_bad_settings_are_refused_clearly() -> None:
    with pytest.raises(ModelConfigError, match="states"):
        HMMConfig.from_dict({"states": 1})
    with pytest.raises(ModelConfigError, match="not been trained"):
        HMMModel.from_config(HMMConfig()).generate(seed=0)
