"""Latent maps a musician can read: named PCA axes, and draws among the training latents."""

from __future__ import annotations

import torch

from synth_core import latent


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
