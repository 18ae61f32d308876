"""Latent maps a musician can read: named PCA axes, interpolation, the XY pad and presets."""

from __future__ import annotations

import pytest
import torch

from synth_core import latent
from synth_core.errors import ModelConfigError
from synth_core.models.base import Control


def test_axes_come_in_variance_order_and_are_named_by_the_descriptor_they_follow():
    generator = torch.Generator().manual_seed(0)
    brightness = torch.randn(200, generator=generator)
    decay = torch.randn(200, generator=generator)
    mixing = torch.linalg.qr(torch.randn(6, 6, generator=generator)).Q
    coords = torch.stack([3 * brightness, decay, *0.1 * torch.randn(4, 200, generator=generator)])
    latents = coords.T @ mixing + 5.0
    axes = latent.fit_axes(latents, {"brightness": brightness, "decay": decay})
    assert axes.scales[0] > axes.scales[1] > axes.scales[2]
    assert axes.label(0).startswith("Axis 1 ≈ brightness (r = +")
    assert axes.label(1).startswith("Axis 2 ≈ decay (r = +")
    assert float(axes.r[0]) > 0.9 and float(axes.r[1]) > 0.9
    # coordinates are in σ: the training set has unit spread along every axis
    back = axes.to_coords(latents)
    assert torch.allclose(back.std(0), torch.ones(6), atol=1e-3)
    assert torch.allclose(axes.to_latent(back), latents, atol=1e-3)


def test_sliders_are_sigma_ranges_centred_on_zero():
    axes = latent.fit_axes(torch.randn(50, 4, generator=torch.Generator().manual_seed(0)))
    controls = latent.axis_controls(axes, 3)
    assert [c.name for c in controls] == ["axis_1", "axis_2", "axis_3"]
    assert all((c.minimum, c.maximum, c.default, c.unit) == (-3.0, 3.0, 0.0, "σ") for c in controls)


def test_neighbour_draws_stay_between_training_latents_and_sliders_move_them():
    latents = torch.tensor([[0.0, 0.0], [1.0, 0.0], [10.0, 10.0], [11.0, 10.0]])
    axes = latent.fit_axes(latents)
    values = {"axis_1": 0.0, "variation": 1.0}
    drawn, anchors = latent.neighbour_draw(
        latents, axes, values, n=64, generator=torch.Generator().manual_seed(0), neighbours=1
    )
    nearest = torch.cdist(drawn, latents).min(-1).values
    assert float(nearest.max()) <= 0.5 + 1e-6, "draws stay near their own cluster"
    moved, _ = latent.neighbour_draw(
        latents,
        axes,
        values | {"axis_1": 1.0},
        n=64,
        generator=torch.Generator().manual_seed(0),
        neighbours=1,
    )
    step = moved - drawn
    assert torch.allclose(step, (axes.scales[0] * axes.components[0]).expand_as(step), atol=1e-5)


def test_consecutive_seeds_start_from_every_training_sound_before_any_repeats():
    count = 50
    singles = torch.cat([latent.seeded_anchors(count, seed, 1) for seed in range(100, 150)])
    assert sorted(singles.tolist()) == list(range(count))
    # one call's n draws are the next n seeds' single draws, and the order is fixed
    assert torch.equal(latent.seeded_anchors(count, 100, 50), singles)
    assert torch.equal(latent.seeded_anchors(count, 100, 50), latent.seeded_anchors(count, 100, 50))
    assert torch.equal(latent.seeded_anchors(count, 100 + count, 1), singles[:1])
    latents = torch.randn(count, 3)
    _, used = latent.neighbour_draw(
        latents,
        latent.fit_axes(latents),
        {"variation": 1.0},
        n=5,
        generator=torch.Generator().manual_seed(0),
        anchors=singles[:5],
    )
    assert torch.equal(used, singles[:5])


def test_slerp_hits_both_ends_and_keeps_the_norm_between_equal_length_latents():
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    assert torch.allclose(latent.slerp(a, b, 0.0), a) and torch.allclose(latent.slerp(a, b, 1.0), b)
    assert float(latent.slerp(a, b, 0.5).norm()) == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(latent.slerp(a, a, 0.3), a)


def test_xy_pad_corners_give_back_their_settings_and_the_centre_averages_them():
    corners = [{"axis_1": -2.0}, {"axis_1": 2.0}, {"axis_1": 0.0}, {"axis_1": 1.0}]
    assert latent.xy_blend(corners, 0, 0) == {"axis_1": -2.0}
    assert latent.xy_blend(corners, 1, 1) == {"axis_1": 1.0}
    assert latent.xy_blend(corners, 0.5, 0.5) == {"axis_1": pytest.approx(0.25)}
    with pytest.raises(ModelConfigError, match="4 corners"):
        latent.xy_blend(corners[:3], 0, 0)


def test_presets_round_trip_and_a_bad_value_names_its_preset(tmp_path):
    controls = [Control("axis_1", "Axis 1", -3, 3, 0, "σ"), Control("variation", "V", 0, 2, 1)]
    path = latent.save_presets(
        tmp_path / "p.json", {"bright": {"axis_1": 2.5}, "calm": {"variation": 0.0}}, family="vae"
    )
    loaded = latent.load_presets(path, controls)
    assert loaded["bright"] == {"axis_1": 2.5, "variation": 1.0}
    latent.save_presets(path, {"wild": {"axis_1": 7.0}}, family="vae")
    with pytest.raises(ModelConfigError, match="preset 'wild'"):
        latent.load_presets(path, controls)
