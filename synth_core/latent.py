"""Latent maps: PCA axes that explain themselves, and new latents drawn among the training ones.

A family with a latent space fits :class:`LatentAxes` to its training latents after training:
principal axes, most variance first, each in units of its own standard deviation (σ) and named
by the audio descriptor its coordinate correlates with most ("Axis 2 ≈ brightness (r = +0.81)").
The GUI then shows sliders in σ, 0 being the centre of the training sounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from synth_core.dsp import DESCRIPTOR_NAMES
from synth_core.models.base import Control

AXIS_RANGE_SIGMA = 3.0
# The fixed shuffle of training sounds that consecutive seeds start from (seeded_anchors)
ANCHOR_ORDER_SEED = 20261126
NAMED_AXES = 16  # only the leading axes become sliders, so only they are named
MAX_AXES = 64


@dataclass
class LatentAxes:
    """PCA of a set of latents.

    mean : ``[D]`` centre. components : ``[K, D]`` unit axes as rows, most variance first
    (K ≤ D). scales : ``[K]`` standard deviation along each axis. descriptor : ``[D]`` int64 index into
    :data:`synth_core.dsp.DESCRIPTOR_NAMES` (−1 when none correlates). r : ``[D]`` the Pearson
    correlation with that descriptor.
    """

    mean: Tensor
    components: Tensor
    scales: Tensor
    descriptor: Tensor
    r: Tensor

    @classmethod
    def identity(cls, dim: int) -> LatentAxes:
        """Axes of a standard normal prior: what a model has before its latents are fitted."""
        return cls(
            mean=torch.zeros(dim),
            components=torch.eye(dim),
            scales=torch.ones(dim),
            descriptor=torch.full((dim,), -1, dtype=torch.long),
            r=torch.zeros(dim),
        )

    def to_latent(self, coords: Tensor) -> Tensor:
        """``[n, K]`` coordinates in σ along each axis → latents ``[n, D]``."""
        return self.mean + (coords.to(self.mean.device) * self.scales) @ self.components

    def to_coords(self, latents: Tensor) -> Tensor:
        """Latents ``[n, D]`` → coordinates ``[n, K]`` in σ along each axis."""
        latents = latents.to(self.mean.device)
        return ((latents - self.mean) @ self.components.T) / self.scales.clamp_min(1e-8)

    def label(self, index: int) -> str:
        d = int(self.descriptor[index])
        if d < 0:
            return f"Axis {index + 1}"
        return f"Axis {index + 1} ≈ {DESCRIPTOR_NAMES[d]} (r = {float(self.r[index]):+.2f})"

    def state(self, prefix: str = "latent") -> dict[str, Tensor]:
        return {
            f"{prefix}.mean": self.mean,
            f"{prefix}.components": self.components,
            f"{prefix}.scales": self.scales,
            f"{prefix}.descriptor": self.descriptor,
            f"{prefix}.r": self.r,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Tensor], prefix: str = "latent") -> LatentAxes:
        return cls(
            mean=state[f"{prefix}.mean"].float(),
            components=state[f"{prefix}.components"].float(),
            scales=state[f"{prefix}.scales"].float(),
            descriptor=state[f"{prefix}.descriptor"].long(),
            r=state[f"{prefix}.r"].float(),
        )


def _pearson(a: Tensor, b: Tensor) -> float:
    ok = torch.isfinite(a) & torch.isfinite(b)
    if int(ok.sum()) < 3:
        return 0.0
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denominator = float(a.norm() * b.norm())
    return float((a * b).sum()) / denominator if denominator > 1e-12 else 0.0


def fit_axes(latents: Tensor, descriptors: Mapping[str, Tensor] | None = None) -> LatentAxes:
    """PCA of ``latents`` ``[N, D]``, each axis named by its best-correlated descriptor.

    Parameters
    ----------
    latents : Tensor
        ``[N, D]``; with fewer than two rows the identity axes are returned.
    descriptors : mapping of name to Tensor ``[N]`` or None
        Names from :data:`synth_core.dsp.DESCRIPTOR_NAMES`; NaN entries are ignored.
    """
    latents = latents.detach().float().cpu()
    n, dim = latents.shape
    if n < 2:
        return LatentAxes.identity(dim)
    mean = latents.mean(0)
    centred = latents - mean
    _, singular, vh = torch.linalg.svd(centred, full_matrices=dim <= MAX_AXES)
    # keep the leading axes only: a latent with hundreds of dimensions would otherwise store a
    # square matrix of them, and no one plays more than a few dozen sliders
    # (and with fewer clips than latent dimensions, the reduced SVD has only N axes to give)
    keep = min(dim, MAX_AXES, vh.shape[0])
    scales = torch.zeros(keep)
    found = min(keep, singular.shape[0])
    scales[:found] = singular[:found] / math.sqrt(n - 1)
    # axes with no spread keep unit scale so sliders along them still move the sound a little
    scales = torch.where(scales > 1e-6, scales, torch.ones_like(scales))
    components = vh[:keep]
    coords = centred @ components.T
    # sign convention: positive along an axis means more of the correlated descriptor
    descriptor = torch.full((keep,), -1, dtype=torch.long)
    r = torch.zeros(keep)
    for axis in range(min(keep, NAMED_AXES)):
        best_name, best_r = None, 0.0
        for name, values in (descriptors or {}).items():
            value = _pearson(coords[:, axis], values.detach().float().cpu())
            if abs(value) > abs(best_r):
                best_name, best_r = name, value
        if best_name is not None and abs(best_r) >= 0.1:
            if best_r < 0:
                components[axis] = -components[axis]
                best_r = -best_r
            descriptor[axis] = DESCRIPTOR_NAMES.index(best_name)
            r[axis] = best_r
    return LatentAxes(mean, components.contiguous(), scales, descriptor, r)


def axis_controls(axes: LatentAxes, count: int) -> list[Control]:
    """Sliders for the first ``count`` axes: ``axis_1``…, in σ, range ±3, default 0."""
    controls = []
    for i in range(min(count, axes.components.shape[0])):
        controls.append(
            Control(
                name=f"axis_{i + 1}",
                label=axes.label(i),
                minimum=-AXIS_RANGE_SIGMA,
                maximum=AXIS_RANGE_SIGMA,
                default=0.0,
                unit="σ",
                help=f"Moves along the training sounds' direction of greatest variation #{i + 1}",
            )
        )
    return controls


VARIATION = Control(
    name="variation",
    label="Variation",
    minimum=0.0,
    maximum=2.0,
    default=1.0,
    unit="σ",
    help="How far each seed wanders from the slider settings (0: sliders alone decide the sound)",
)


NOVELTY = Control(
    name="novelty",
    label="Novelty",
    minimum=0.0,
    maximum=2.0,
    default=1.0,
    help=(
        "0: variations of one training sound; 1: new sounds, as far from every training sound "
        "as a new recording of the same kind is; 2: twice as far"
    ),
)


def nearest_distances(coords: Tensor) -> Tensor:
    """``[N]``: each of ``coords`` ``[N, K]``'s distance to its nearest other row (inf when
    there is no other)."""
    distances = torch.cdist(coords, coords)
    distances.fill_diagonal_(float("inf"))
    return distances.min(-1).values


def novelty_offset(
    latents: Tensor, axes: LatentAxes, anchors: Tensor, amount: float, generator: torch.Generator
) -> Tensor:
    """``[n, D]``: how far new sounds move away from the training latents they start from.

    A kernel density draw over the training latents: each draw adds Gaussian noise shaped like
    the training latents' own spread (isotropic in the σ coordinates of ``axes``), scaled so
    that at ``amount`` 1 it moves on average as far as the anchor's nearest other training
    latent lies. The bandwidth follows the data where it is dense or sparse, and the noise stays
    in the span of the training latents. 0 adds nothing and draws no random numbers.
    """
    n = anchors.shape[0]
    if amount <= 0 or latents.shape[0] < 2:
        return torch.zeros(n, latents.shape[1], device=latents.device)
    coords = axes.to_coords(latents)
    k = coords.shape[1]
    # only the anchors' rows of the distance matrix: this runs on every slider move, and the
    # whole N × N matrix would grow with the square of the training set
    anchors = anchors.to(coords.device)
    distances = torch.cdist(coords[anchors], coords)
    distances[torch.arange(n, device=coords.device), anchors] = float("inf")
    reach = distances.min(-1).values
    noise = torch.randn(n, k, generator=generator).to(coords.device)
    noise = noise * (float(amount) * reach / math.sqrt(k))[:, None]
    return (noise * axes.scales) @ axes.components


def coords_from_values(
    values: Mapping[str, float], dim: int, *, n: int, generator: torch.Generator
) -> Tensor:
    """Latent coordinates ``[n, dim]`` for resolved control values: seeded N(0, variation²) on
    every axis, plus each ``axis_k`` slider's offset on axis k."""
    coords = torch.randn(n, dim, generator=generator) * float(values.get("variation", 1.0))
    for name, value in values.items():
        if name.startswith("axis_"):
            coords[:, int(name.split("_", 1)[1]) - 1] += float(value)
    return coords


def seeded_anchors(
    count: int, seed: int | None, n: int, generator: torch.Generator | None = None
) -> Tensor:
    """Which of ``count`` training sounds the ``n`` draws of ``seed`` start from: ``seed``,
    ``seed + 1``, … in one fixed shuffled order of the training sounds (with no seed, drawn
    from ``generator``).

    Consecutive seeds (the app's Randomise, a sample pack's variations, evaluate's batches)
    so start from different sounds until every training sound has had its turn, where drawing
    each start at random repeats one within about √(2·count) draws (the birthday problem): two
    new sounds near the same training sound are near-copies of each other, in a pack and to
    the two-sample test. For a 10-minute vae on the built-in test split, 1-NN over 10 seeds
    went from 0.735 ± 0.035 to 0.706 ± 0.034 (Fréchet 45.4 → 43.6).
    """
    if seed is None:
        return torch.randint(0, count, (int(n),), generator=generator)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(ANCHOR_ORDER_SEED))
    return order[(int(seed) + torch.arange(int(n))) % count]


def neighbour_draw(
    latents: Tensor,
    axes: LatentAxes,
    values: Mapping[str, float],
    *,
    n: int,
    generator: torch.Generator,
    neighbours: int = 3,
    anchors: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """New latents ``[n, D]`` near the training latents ``[N, D]``, and the index ``[n]`` of the
    training latent each started from.

    Each draw picks a training latent and moves part of the way (uniform in 0–0.5 ×
    ``variation``) towards one of its ``neighbours`` nearest training latents, so new sounds
    stay on the data's own manifold instead of landing between unlike sounds, as a single
    Gaussian would; each ``axis_k`` slider then adds ``value × σ_k`` along PCA axis k.
    ``anchors`` ``[n]`` names the starting latents (:func:`seeded_anchors`); None draws them.
    """
    count = latents.shape[0]
    if anchors is None:
        anchors = torch.randint(0, count, (n,), generator=generator)
    k = min(neighbours, count - 1)
    chosen = latents[anchors]
    if k > 0:
        distances = torch.cdist(chosen, latents)
        distances[torch.arange(n), anchors] = float("inf")
        near = distances.topk(k, largest=False).indices
        pick = near[torch.arange(n), torch.randint(0, k, (n,), generator=generator)]
        variation = float(values.get("variation", 1.0))
        mix = torch.rand(n, 1, generator=generator) * 0.5 * variation
        chosen = chosen + mix.to(latents.device) * (latents[pick] - chosen)
    return chosen + slider_offset(axes, values).to(latents.device), anchors


def slider_offset(axes: LatentAxes, values: Mapping[str, float]) -> Tensor:
    """``[D]``: where the ``axis_k`` sliders in ``values`` move a latent, ``value × σ_k`` along
    PCA axis k each (on the CPU)."""
    offset = torch.zeros(axes.components.shape[1])
    for name, value in values.items():
        if name.startswith("axis_"):
            axis = int(name.split("_", 1)[1]) - 1
            offset += float(value) * (axes.scales[axis] * axes.components[axis]).cpu()
    return offset
