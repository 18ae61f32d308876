"""``gmm``: a Gaussian mixture over whole sounds, trained by EM in seconds.

Each training sound becomes one vector: its frame features (partial and noise-band levels over
time, see :mod:`synth_core.models.frames`) projected on their main principal axes. A mixture of
full-covariance Gaussians is fitted to those vectors by expectation-maximisation (Bishop, "Pattern
Recognition and Machine Learning", §9.2.2); each component is one kind of sound in the folder.
Generation draws a component, a point in it, turns the point back into frame levels, borrows the
partial layout of the nearest training sound, and renders with the DDSP-style synthesiser.

Controls: which component (or a weighted draw), a weight per component, the main axes within the
chosen component in standard deviations, and how far a draw may stray from the component centre.
The weights are relative (only their ratios count), so all of them at 0 is read as all equal:
the mixture's own proportions, the same as every weight at 1× — never an error from a slider.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from synth_core import distributed
from synth_core.errors import ModelConfigError
from synth_core.models import Family, register
from synth_core.models.base import (
    Batch,
    Control,
    check_range,
    resolve_values,
    seeded_generator,
)
from synth_core.models.frames import (
    FrameConfig,
    FrameFamily,
    kmeans,
    pca,
    transpose,
)

if TYPE_CHECKING:
    from synth_core.dataset import ClipSet

logger = logging.getLogger(__name__)

AXES_SHOWN = 3


@dataclass(frozen=True)
class GMMConfig(FrameConfig):
    """components : Gaussians in the mixture. dims : principal axes per sound.
    covariance_floor : added to each covariance diagonal, as a share of the mean axis variance.
    seed : seeds the k-means initialisation."""

    components: int = 6
    dims: int = 16
    covariance_floor: float = 0.01
    seed: int = 0

    def validate(self) -> None:
        super().validate()
        check_range("components", self.components, 1, 32)
        check_range("dims", self.dims, 2, 64)
        check_range("covariance_floor", self.covariance_floor, 0, 1, open_low=True)
        check_range("seed", self.seed, 0, 2**63 - 1)


#: Settings of the family test matrix's tiny model.
TINY: dict[str, Any] = {"components": 2, "dims": 4}

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"components": 4, "dims": 12},
    "better": {"components": 8, "dims": 24},
}


def _log_gaussian(x: Tensor, means: Tensor, covariances: Tensor) -> Tensor:
    """log N(x | mean_c, cov_c) for every point and component, ``[N, C]`` (float64)."""
    chol = torch.linalg.cholesky(covariances)  # [C, P, P]
    diff = (x[None, :, :] - means[:, None, :]).transpose(1, 2)  # [C, P, N]
    solved = torch.linalg.solve_triangular(chol, diff, upper=False)
    mahalanobis = solved.square().sum(dim=1)  # [C, N]
    log_det = 2.0 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(dim=1)  # [C]
    p = x.shape[1]
    return (-0.5 * (p * math.log(2 * math.pi) + log_det[:, None] + mahalanobis)).T


class GMMModel(FrameFamily):
    """Gaussian mixture over PCA-compressed frame features of whole sounds."""

    family = "gmm"
    config_class = GMMConfig
    PRESETS = PRESETS
    export_refusal = (
        "a sound is a draw from the mixture rendered with the partial layout of the nearest "
        "training sound, a search over the training set rather than a fixed decoder"
    )
    can_encode = True

    def __init__(self, config: GMMConfig) -> None:
        super().__init__(config)
        self.config: GMMConfig = config
        flat = config.n_frames * config.feature_dim
        c, p = int(config.components), int(config.dims)
        self.pca_mean = torch.zeros(flat)
        self.pca_axes = torch.zeros(0, flat)
        self.codes = torch.zeros(0, p)  # training sounds in PCA space (nearest-layout lookup)
        self.weights = torch.full((c,), 1.0 / c, dtype=torch.float64)
        self.means = torch.zeros(c, p, dtype=torch.float64)
        self.covariances = torch.eye(p, dtype=torch.float64).repeat(c, 1, 1)
        self._floor = 1e-3

    # learning ------------------------------------------------------------------------------

    def begin(self, clips: ClipSet) -> None:
        """Analyse every training sound, fit the PCA and initialise the mixture by k-means."""
        self._fit_data(clips.audio, clips.pitch)

    def _fit_data(self, audio: Tensor, pitch: Tensor | None) -> None:
        features, layouts = self.analyse_training(audio, pitch)
        flat = features.flatten(1)
        self.pca_mean, self.pca_axes, variances = pca(flat, int(self.config.dims))
        self.codes = (flat - self.pca_mean) @ self.pca_axes.T
        self.layouts = layouts
        self._floor = float(self.config.covariance_floor) * float(variances.mean())
        c = min(int(self.config.components), self.codes.shape[0])
        labels = kmeans(
            self.codes, c, generator=torch.Generator().manual_seed(int(self.config.seed))
        )
        resp = torch.nn.functional.one_hot(labels, int(self.config.components)).double()
        self._m_step(self.codes.double(), resp)
        logger.info("gmm: %d sounds, %d axes, %d components", len(flat), len(variances), c)

    def _m_step(
        self,
        x: Tensor,
        resp: Tensor,
        *,
        everything: Tensor | None = None,
        reduce: Callable[[Tensor], Tensor] = lambda t: t,
    ) -> None:
        """Weights, means and covariances from the responsibilities ``resp`` of the sounds
        ``x``; with several training processes ``x`` is this process's share, ``reduce`` sums
        each statistic over the processes and ``everything`` is the whole training set."""
        everything = x if everything is None else everything
        counts = reduce(resp.sum(dim=0)) + 1e-9  # [C]
        self.weights = counts / counts.sum()
        self.means = reduce(resp.T @ x) / counts[:, None]
        diff = x[None, :, :] - self.means[:, None, :]  # [C, N, P]
        weighted = diff * resp.T[:, :, None]
        eye = torch.eye(x.shape[1], dtype=torch.float64)
        self.covariances = reduce(weighted.transpose(1, 2) @ diff) / counts[:, None, None]
        self.covariances = self.covariances + self._floor * eye
        # An emptied component restarts on the whole data's spread rather than collapsing.
        empty = counts < 1.0
        if bool(empty.any()):
            self.means[empty] = everything.mean(dim=0)
            self.covariances[empty] = torch.cov(everything.T) + self._floor * eye

    def step(self, batch: Batch) -> dict[str, float]:
        """One EM iteration over every training sound.

        The mixture is fitted on the whole training set that :meth:`begin` analysed; without a
        ``begin`` the first batch is that training set.
        """
        if self.codes.shape[0] == 0:
            self._fit_data(batch.audio, batch.pitch)
        everything = self.codes.double()
        # with several training processes each takes a share of the sounds and the statistics
        # are summed over them (synth_core.distributed), which gives one process's model
        x = everything[distributed.shard(everything.shape[0])]
        log_joint = _log_gaussian(x, self.means, self.covariances) + torch.log(self.weights)
        log_likelihood = torch.logsumexp(log_joint, dim=1)
        resp = torch.exp(log_joint - log_likelihood[:, None])
        self._m_step(x, resp, everything=everything, reduce=distributed.all_reduce_sum)
        used = int((self.weights > 0.5 / everything.shape[0]).sum())
        if distributed.active():
            mean = distributed.all_reduce_sum(log_likelihood.sum()) / everything.shape[0]
        else:
            mean = log_likelihood.mean()
        return {"nll_per_dim": float(-mean) / x.shape[1], "components": used}

    def state(self) -> dict[str, Tensor]:
        return {
            "pca_mean": self.pca_mean,
            "pca_axes": self.pca_axes,
            "codes": self.codes,
            "layouts": self.layouts,
            "weights": self.weights,
            "means": self.means,
            "covariances": self.covariances,
            "floor": torch.tensor(self._floor, dtype=torch.float64),
        } | self.floor_state()

    def load_state(self, state: Mapping[str, Tensor]) -> None:
        missing = {"pca_mean", "pca_axes", "codes", "layouts", "weights", "means", "covariances"}
        missing -= set(state)
        if missing:
            raise ModelConfigError(f"gmm state lacks {', '.join(sorted(missing))}")
        _check_shapes(state)
        self.pca_mean = state["pca_mean"].float().clone()
        self.pca_axes = state["pca_axes"].float().clone()
        self.codes = state["codes"].float().clone()
        self.layouts = state["layouts"].float().clone()
        self.weights = state["weights"].double().clone()
        self.means = state["means"].double().clone()
        self.covariances = state["covariances"].double().clone()
        if "floor" in state:
            self._floor = float(state["floor"])
        self.load_floor(state)

    # playing -------------------------------------------------------------------------------

    def controls(self) -> list[Control]:
        c = int(self.weights.shape[0])
        controls = [
            Control(
                "sound_type",
                "Sound type",
                0.0,
                float(c),
                0.0,
                help="0 draws a type by the weights below; 1…N always uses that mixture component",
            ),
            Control(
                "variation",
                "Variation",
                0.0,
                2.0,
                1.0,
                "σ",
                help="How far a draw strays from its type's centre, in standard deviations",
            ),
        ]
        for j in range(AXES_SHOWN):
            controls.append(
                Control(
                    f"axis_{j + 1}",
                    f"Type axis {j + 1}",
                    -3.0,
                    3.0,
                    0.0,
                    "σ",
                    help=f"Moves along the chosen type's direction of greatest variation #{j + 1}",
                )
            )
        for k in range(c):
            share = float(self.weights[k]) * 100
            controls.append(
                Control(
                    f"weight_{k + 1}",
                    f"Weight of type {k + 1} ({share:.0f} %)",
                    0.0,
                    4.0,
                    1.0,
                    "×",
                    help="Scales how often a weighted draw picks this type (all at 0: all equal)",
                )
            )
        return controls

    def _sample_codes(
        self, values: Mapping[str, float], n: int, generator: torch.Generator
    ) -> Tensor:
        c = int(self.weights.shape[0])
        choice = int(round(values["sound_type"]))
        if choice > 0:
            component = torch.full((n,), choice - 1, dtype=torch.long)
        else:
            scaled = self.weights * torch.tensor(
                [values[f"weight_{k + 1}"] for k in range(c)], dtype=torch.float64
            )
            if float(scaled.sum()) <= 0:  # every weight at 0: all equal, see the module docstring
                scaled = self.weights
            component = torch.multinomial(scaled, n, replacement=True, generator=generator)
        p = self.means.shape[1]
        noise = torch.randn(n, p, generator=generator, dtype=torch.float64)
        variances, axes = torch.linalg.eigh(self.covariances[component])  # ascending
        variances, axes = variances.flip(-1).clamp_min(0), axes.flip(-1)
        scale = variances.sqrt()
        offsets = torch.zeros(n, p, dtype=torch.float64)
        for j in range(min(AXES_SHOWN, p)):
            offsets[:, j] = values[f"axis_{j + 1}"]
        coordinates = noise * float(values["variation"]) + offsets
        return self.means[component] + torch.einsum("npq,nq->np", axes, coordinates * scale)

    def generate(
        self,
        values: Mapping[str, float] | None = None,
        *,
        n: int = 1,
        seed: int | None = None,
        pitch: float | None = None,
    ) -> Tensor:
        """Draw ``n`` sounds ``[n, samples]`` from the mixture; see the module docstring."""
        self._require_layouts()
        values = resolve_values(self.controls(), values)
        generator = seeded_generator(seed)
        codes = self._sample_codes(values, int(n), generator).float()
        nearest = torch.cdist(codes, self.codes).argmin(dim=1)
        return self._render_codes(codes, transpose(self.layouts[nearest], pitch), generator)

    def _render_codes(self, codes: Tensor, layouts: Tensor, generator: torch.Generator) -> Tensor:
        features = (self.pca_mean + codes @ self.pca_axes).reshape(
            codes.shape[0], self.config.n_frames, self.config.feature_dim
        )
        return self.render(features, layouts, generator=generator)

    def encode(self, audio: Tensor) -> Tensor:
        """PCA coordinates ``[n, dims]`` of each sound's frame features."""
        self._require_layouts()
        features, _ = self.analyse(self.fit_length(audio))
        return (features.flatten(1) - self.pca_mean) @ self.pca_axes.T

    def reconstruct(self, audio: Tensor, *, pitch: Tensor | None = None) -> Tensor:
        """Project each sound on the model's principal axes and render it with its own partials."""
        self._require_layouts()
        features, layouts = self.analyse(self.fit_length(audio), pitch)
        codes = (features.flatten(1) - self.pca_mean) @ self.pca_axes.T
        out = self._render_codes(codes, layouts, torch.Generator().manual_seed(0))
        return _match_length(out, audio.shape[-1])


def _match_length(audio: Tensor, samples: int) -> Tensor:
    if audio.shape[-1] >= samples:
        return audio[..., :samples]
    return torch.nn.functional.pad(audio, (0, samples - audio.shape[-1]))


register(
    Family(
        name="gmm",
        title="Gaussian mixture",
        summary="A mixture of Gaussians over whole sounds' partial and noise levels, fitted by EM",
        good_for="Quick sketches of a folder's main kinds of sound; trains in seconds",
        model_class=GMMModel,
    )
)


def _check_shapes(state: Mapping[str, Tensor]) -> None:
    """Raise ``ValueError`` naming the first tensor whose shape does not fit the others.

    The feature count ``D`` is the mixture's, ``means`` ``[K, D]``, which depends on the training
    set (a small folder keeps fewer PCA axes than ``config.dims``), so shapes are checked against
    each other rather than against the config. An unfitted model has no PCA axes and no codes yet.
    """
    for name, dims in (("weights", 1), ("means", 2), ("pca_mean", 1)):
        if state[name].dim() != dims:
            raise ValueError(f"tensor {name!r} has shape {list(state[name].shape)}")
    components, dims = (int(size) for size in state["means"].shape)
    features = int(state["pca_mean"].shape[0])
    fitted = state["pca_axes"].numel() > 0
    clips = int(state["codes"].shape[0]) if state["codes"].dim() == 2 else -1
    expected = {
        "weights": [components],
        "covariances": [components, dims, dims],
        "pca_axes": [dims if fitted else 0, features],
        "codes": [clips, dims],
        "layouts": [clips, int(state["layouts"].shape[-1]) if state["layouts"].dim() else -1],
    }
    for name, want in expected.items():
        shape = list(state[name].shape)
        if -1 in want or shape != want:
            raise ValueError(f"tensor {name!r} has shape {shape}, where the others need {want}")
