"""``hmm``: hidden Markov models over frame features — statistical parametric synthesis.

A sound is a walk through a few *stages* (attack, decay, sustain, noise tail…): a left-to-right
HMM whose states emit Gaussian frame features, as in HMM speech synthesis (Zen, Tokuda & Black,
2009, "Statistical parametric speech synthesis"). Frames are the DDSP levels of
:mod:`synth_core.models.frames`, reduced to their main principal axes, plus their deltas. Sounds
are first grouped into *types* by k-means, and each type gets its own HMM, trained by Baum-Welch
(Rabiner, 1989) — one EM iteration over every training sound per ``step``.

Generation picks a type, gives each state a duration (its self-transition's mean dwell
``1 / (1 - a)`` frames, scaled by the dwell controls and jittered by the seed), and turns the state
sequence into a smooth trajectory by maximum-likelihood parameter generation with dynamic features
(MLPG; Tokuda et al., 2000, "Speech parameter generation algorithms for HMM-based speech
synthesis"), which the DDSP-style synthesiser renders with the partial layout of a training sound
of that type.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy.linalg import solveh_banded
from torch import Tensor

from synth_core import distributed, dsp
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
    NAMED_BELOW_R,
    FrameConfig,
    FrameFamily,
    kmeans,
    name_axes,
    pca,
    transpose,
)

if TYPE_CHECKING:
    from synth_core.dataset import ClipSet

logger = logging.getLogger(__name__)

OFFSETS_SHOWN = 3
NEG_INF = -1e30


@dataclass(frozen=True)
class HMMConfig(FrameConfig):
    """states : stages per sound. types : k-means groups of sounds, one HMM each.
    dims : principal axes of a frame. variance_floor : share of each axis's variance every state
    keeps at least. seed : seeds the grouping."""

    states: int = 6
    types: int = 8
    dims: int = 12
    variance_floor: float = 0.01
    seed: int = 0

    def validate(self) -> None:
        super().validate()
        check_range("states", self.states, 2, 16)
        check_range("types", self.types, 1, 16)
        check_range("dims", self.dims, 2, 64)
        check_range("variance_floor", self.variance_floor, 0, 1, open_low=True)
        check_range("seed", self.seed, 0, 2**63 - 1)


#: Settings of the family test matrix's tiny model.
TINY: dict[str, Any] = {"states": 3, "types": 2, "dims": 4}

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"states": 5, "types": 3, "dims": 8},
    "better": {"states": 8, "types": 12, "dims": 16},
}


def deltas(static: Tensor) -> Tensor:
    """First-order dynamic features ``0.5 (c[t+1] − c[t−1])`` along dim −2, edges repeated."""
    padded = torch.cat([static[..., :1, :], static, static[..., -1:, :]], dim=-2)
    return 0.5 * (padded[..., 2:, :] - padded[..., :-2, :])


def delta_matrix(frames: int) -> Tensor:
    """The ``[T, T]`` matrix that :func:`deltas` applies along time."""
    eye = torch.eye(frames, dtype=torch.float64)
    return deltas(eye[None])[0].contiguous()


def mlpg(mean: Tensor, variance: Tensor) -> Tensor:
    """Maximum-likelihood trajectory from per-frame static+delta Gaussians.

    Parameters
    ----------
    mean, variance : Tensor [B, T, 2P]
        Static means/variances in the first P columns, delta ones in the last P.

    Returns
    -------
    Tensor [B, T, P] solving ``(Wᵀ U⁻¹ W) c = Wᵀ U⁻¹ μ`` per dimension (Tokuda et al., 2000).
    With the delta window of :func:`deltas` the system is pentadiagonal and positive definite,
    so it is solved in banded form in O(T) per dimension.
    """
    batch, frames, two_p = mean.shape
    p = two_p // 2
    precision = 1.0 / variance.double().cpu().numpy()
    mu = mean.double().cpu().numpy()
    static_precision = precision[..., :p].transpose(0, 2, 1).reshape(-1, frames)  # [R, T]
    delta_precision = precision[..., p:].transpose(0, 2, 1).reshape(-1, frames)
    static_mean = mu[..., :p].transpose(0, 2, 1).reshape(-1, frames)
    delta_mean = mu[..., p:].transpose(0, 2, 1).reshape(-1, frames)
    t = np.arange(frames)
    before, after = np.maximum(t - 1, 0), np.minimum(t + 1, frames - 1)
    rows = static_precision.shape[0]
    # Each delta row is 0.5 (c[after] - c[before]); it adds q/4 to both diagonal entries and
    # -q/4 to the pair's off-diagonal entry (first or second superdiagonal at the edges/inside).
    quarter = delta_precision / 4.0
    bands = np.zeros((rows, 3, frames))
    bands[:, 2] = static_precision
    np.add.at(bands[:, 2], (slice(None), before), quarter)
    np.add.at(bands[:, 2], (slice(None), after), quarter)
    gap = after - before
    for width, band in ((1, 1), (2, 0)):
        chosen = gap == width
        np.add.at(bands[:, band], (slice(None), after[chosen]), -quarter[:, chosen])
    weighted = delta_precision * delta_mean * 0.5
    rhs = static_precision * static_mean
    np.add.at(rhs, (slice(None), after), weighted)
    np.add.at(rhs, (slice(None), before), -weighted)
    solution = np.stack([solveh_banded(bands[r], rhs[r]) for r in range(rows)])
    out = torch.from_numpy(solution).float().reshape(batch, p, frames).permute(0, 2, 1)
    return out.to(mean.device)


def _log_emission(obs: Tensor, means: Tensor, variances: Tensor) -> Tensor:
    """Diagonal Gaussian log-densities ``[N, T, S]`` of ``obs [N, T, F]`` under each state."""
    diff = obs[:, :, None, :] - means[None, None]  # [N, T, S, F]
    return -0.5 * (
        (diff.square() / variances).sum(-1)
        + torch.log(variances).sum(-1)
        + obs.shape[-1] * math.log(2 * math.pi)
    )


def baum_welch(
    obs: Tensor,
    means: Tensor,
    variances: Tensor,
    stay: Tensor,
    floor: Tensor,
    *,
    reduce: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor, float]:
    """One Baum-Welch iteration of a left-to-right HMM that starts in state 0 and ends in S−1.

    Parameters
    ----------
    obs : Tensor [N, T, F] float64. means, variances : [S, F]. stay : [S] self-transition
        probabilities. floor : [F] least variance.

    Returns
    -------
    (means, variances, stay, log-likelihood per frame) after the update.

    With several training processes ``obs`` is this process's share of the sounds and
    ``reduce`` sums each statistic over the processes, so every one gets the update of all
    the sounds.
    """
    n, t_len, _ = obs.shape
    s = means.shape[0]
    log_b = _log_emission(obs, means, variances)  # [N, T, S]
    log_stay = torch.log(stay)
    log_move = torch.log1p(-stay)
    alpha = torch.full((n, t_len, s), NEG_INF, dtype=obs.dtype)
    alpha[:, 0, 0] = log_b[:, 0, 0]
    for t in range(1, t_len):
        previous = alpha[:, t - 1]
        moved = torch.cat(
            [torch.full((n, 1), NEG_INF, dtype=obs.dtype), previous[:, :-1] + log_move[:-1]], 1
        )
        alpha[:, t] = torch.logaddexp(previous + log_stay, moved) + log_b[:, t]
    beta = torch.full((n, t_len, s), NEG_INF, dtype=obs.dtype)
    beta[:, -1, -1] = 0.0
    for t in range(t_len - 2, -1, -1):
        after = log_b[:, t + 1] + beta[:, t + 1]
        advanced = torch.cat(
            [after[:, 1:] + log_move[:-1], torch.full((n, 1), NEG_INF, dtype=obs.dtype)], 1
        )
        beta[:, t] = torch.logaddexp(after + log_stay, advanced)
    log_z = alpha[:, -1, -1]  # [N]
    gamma = torch.exp(alpha + beta - log_z[:, None, None])  # [N, T, S]
    after = log_b[:, 1:] + beta[:, 1:]  # [N, T-1, S]
    stays = torch.exp(alpha[:, :-1] + log_stay + after - log_z[:, None, None]).sum((0, 1))
    moves = torch.exp(
        alpha[:, :-1, :-1] + log_move[:-1] + after[:, :, 1:] - log_z[:, None, None]
    ).sum((0, 1))
    moves = torch.cat([moves, torch.zeros(1, dtype=obs.dtype)])
    total = (lambda t: t) if reduce is None else reduce
    stays, moves = total(stays), total(moves)
    occupancy = total(gamma.sum((0, 1)))[:, None] + 1e-9  # [S, 1]
    new_means = total(torch.einsum("nts,ntf->sf", gamma, obs)) / occupancy
    second = total(torch.einsum("nts,ntf->sf", gamma, obs.square())) / occupancy
    new_variances = torch.maximum(second - new_means.square(), floor)
    new_stay = (stays / (stays + moves + 1e-9)).clamp(0.05, 0.995)
    new_stay[-1] = 0.995  # the last stage lasts until the sound ends
    if reduce is None:
        return new_means, new_variances, new_stay, float(log_z.mean()) / t_len
    counted = reduce(torch.stack([log_z.sum(), torch.tensor(float(n), dtype=log_z.dtype)]))
    return new_means, new_variances, new_stay, float(counted[0] / counted[1]) / t_len


class HMMModel(FrameFamily):
    """One left-to-right HMM per type of sound, over PCA-reduced frame features and deltas."""

    family = "hmm"
    config_class = HMMConfig
    PRESETS = PRESETS
    export_refusal = (
        "each sound's stage durations are drawn and its trajectory solved (MLPG) per draw, so "
        "there is no fixed-size decoder from controls to audio"
    )

    def __init__(self, config: HMMConfig) -> None:
        super().__init__(config)
        self.config: HMMConfig = config
        c, s, p = int(config.types), int(config.states), int(config.dims)
        self.frame_mean = torch.zeros(config.feature_dim)
        self.frame_axes = torch.zeros(0, config.feature_dim)
        self.observations = torch.zeros(0, config.n_frames, p)  # training frames, for EM
        self.sound_type = torch.zeros(0, dtype=torch.long)  # per training sound
        self.type_weights = torch.full((c,), 1.0 / c)
        self.means = torch.zeros(c, s, 2 * p, dtype=torch.float64)
        self.variances = torch.ones(c, s, 2 * p, dtype=torch.float64)
        self.stay = torch.full((c, s), 0.9, dtype=torch.float64)
        self.floor = torch.full((2 * p,), 1e-3, dtype=torch.float64)
        self.axis_names = torch.zeros(OFFSETS_SHOWN, 2)  # descriptor index, r

    # learning ------------------------------------------------------------------------------

    def begin(self, clips: ClipSet) -> None:
        """Analyse the training sounds, group them into types and segment each type evenly."""
        self._fit_data(clips.audio, clips.pitch)

    def _fit_data(self, audio: Tensor, pitch: Tensor | None) -> None:
        features, self.layouts = self.analyse_training(audio, pitch)
        n, t_len, d = features.shape
        self.frame_mean, self.frame_axes, _ = pca(features.reshape(-1, d), int(self.config.dims))
        self.observations = (features - self.frame_mean) @ self.frame_axes.T
        p = self.observations.shape[-1]
        if p < int(self.config.dims):
            raise ModelConfigError(
                f"hmm: the training frames only have {p} independent axes; set dims ≤ {p}"
            )
        groups = min(int(self.config.types), n)
        labels = kmeans(
            self.observations.flatten(1),
            groups,
            generator=torch.Generator().manual_seed(int(self.config.seed)),
        )
        self.sound_type = labels
        counts = torch.bincount(labels, minlength=int(self.config.types)).float()
        self.type_weights = counts / counts.sum()
        obs = self._with_deltas(self.observations)
        spread = obs.reshape(-1, 2 * p).var(dim=0)
        self.floor = float(self.config.variance_floor) * spread + 1e-6
        s = int(self.config.states)
        # Even segmentation: state k covers the k-th slice of every sound (the usual flat start).
        segment = torch.div(torch.arange(t_len) * s, t_len, rounding_mode="floor")
        for c in range(int(self.config.types)):
            members = obs[labels == c] if counts[c] > 0 else obs
            for k in range(s):
                frames = members[:, segment == k].reshape(-1, 2 * p)
                self.means[c, k] = frames.mean(0)
                self.variances[c, k] = torch.maximum(frames.var(0, unbiased=False), self.floor)
            self.stay[c] = 1.0 - s / t_len
            self.stay[c, -1] = 0.995
        self._name_offsets()

    def _with_deltas(self, static: Tensor) -> Tensor:
        return torch.cat([static, deltas(static)], dim=-1).double()

    def step(self, batch: Batch) -> dict[str, float]:
        """One Baum-Welch iteration of every type's HMM over all its training sounds.

        The HMMs learn from the training set :meth:`begin` analysed; without a ``begin`` the
        first batch is that training set.
        """
        if self.observations.shape[0] == 0:
            self._fit_data(batch.audio, batch.pitch)
        obs = self._with_deltas(self.observations)
        total, frames = 0.0, 0
        for c in range(int(self.config.types)):
            members = obs[self.sound_type == c]
            if members.shape[0] == 0:
                continue
            # several training processes: each takes a share of the type's sounds and the
            # statistics are summed over them (synth_core.distributed)
            reduce = distributed.all_reduce_sum if distributed.active() else None
            means, variances, stay, log_likelihood = baum_welch(
                members[distributed.shard(members.shape[0])],
                self.means[c],
                self.variances[c],
                self.stay[c],
                self.floor,
                reduce=reduce,
            )
            self.means[c], self.variances[c], self.stay[c] = means, variances, stay
            total += log_likelihood * members.shape[0]
            frames += members.shape[0]
        return {"nll_per_frame": -total / max(frames, 1)}

    def end(self, clips: ClipSet) -> None:
        """Name the emission-offset sliders after what they change."""
        self._name_offsets()

    def _name_offsets(self) -> None:
        renders = {}
        positions = torch.linspace(-2.0, 2.0, 5)
        for j in range(min(OFFSETS_SHOWN, self.frame_axes.shape[0])):
            audio = torch.cat(
                [
                    self.generate({f"offset_{j + 1}": float(x), "variation": 0.0}, seed=0)
                    for x in positions
                ]
            )
            renders[j] = (positions, audio)
        for j, (descriptor, r) in name_axes(renders, self.sample_rate).items():
            self.axis_names[j] = torch.tensor([dsp.DESCRIPTOR_NAMES.index(descriptor), r])

    def state(self) -> dict[str, Tensor]:
        return {
            "frame_mean": self.frame_mean,
            "frame_axes": self.frame_axes,
            "observations": self.observations,
            "sound_type": self.sound_type,
            "type_weights": self.type_weights,
            "layouts": self.layouts,
            "means": self.means,
            "variances": self.variances,
            "stay": self.stay,
            "floor": self.floor,
            "axis_names": self.axis_names,
        } | self.floor_state()

    def load_state(self, state: Mapping[str, Tensor]) -> None:
        names = set(self.state()) - set(self.floor_state())  # models before it lack the floor
        missing = names - set(state)
        if missing:
            raise ModelConfigError(f"hmm state lacks {', '.join(sorted(missing))}")
        for name in names:
            setattr(self, name, state[name].clone())
        self.load_floor(state)

    # playing -------------------------------------------------------------------------------

    def _present_types(self) -> Tensor:
        """Indices of the types that hold training sounds (k-means may leave some empty)."""
        present = torch.nonzero(self.type_weights > 0).flatten()
        return present if present.numel() else torch.arange(int(self.config.types))

    def controls(self) -> list[Control]:
        c, s = int(self._present_types().numel()), int(self.config.states)
        controls = [
            Control(
                "sound_type",
                "Sound type",
                0.0,
                float(c),
                0.0,
                help="0 draws a type as often as it occurs in the training sounds; 1…N picks one",
            ),
            Control(
                "variation",
                "Variation",
                0.0,
                2.0,
                1.0,
                "σ",
                help="Random departure of each stage from its learned level, and of its length",
            ),
            Control(
                "sharpness",
                "Transition sharpness",
                0.25,
                4.0,
                1.0,
                "×",
                "log",
                help="How abruptly one stage turns into the next (scales the allowed rate of change)",
            ),
        ]
        for k in range(s):
            controls.append(
                Control(
                    f"dwell_{k + 1}",
                    f"Stage {k + 1} length",
                    0.25,
                    4.0,
                    1.0,
                    "×",
                    "log",
                    help=f"Stretches how long stage {k + 1} of the sound lasts",
                )
            )
        for j in range(min(OFFSETS_SHOWN, max(1, self.frame_axes.shape[0]))):
            controls.append(
                Control(
                    f"offset_{j + 1}",
                    f"Timbre axis {j + 1} {self._axis_label(j)}".rstrip(),
                    -3.0,
                    3.0,
                    0.0,
                    "σ",
                    help="Shifts every stage's frame level along this principal axis",
                )
            )
        return controls

    def _axis_label(self, j: int) -> str:
        descriptor, r = self.axis_names[j].tolist()
        if abs(r) < NAMED_BELOW_R:
            return ""
        return f"≈ {dsp.DESCRIPTOR_NAMES[int(descriptor)]} (r = {r:+.2f})"

    def generate(
        self,
        values: Mapping[str, float] | None = None,
        *,
        n: int = 1,
        seed: int | None = None,
        pitch: float | None = None,
    ) -> Tensor:
        """Walk ``n`` state paths, smooth them by MLPG and render ``[n, samples]``."""
        self._require_layouts()
        values = resolve_values(self.controls(), values)
        generator = seeded_generator(seed)
        types = self._pick_types(values, int(n), generator)
        t_len, p = self.config.n_frames, self.frame_axes.shape[0]
        mean = torch.zeros(int(n), t_len, 2 * p, dtype=torch.float64)
        variance = torch.ones(int(n), t_len, 2 * p, dtype=torch.float64)
        variation = float(values["variation"])
        dwell = torch.tensor([values[f"dwell_{k + 1}"] for k in range(int(self.config.states))])
        offsets = torch.zeros(p, dtype=torch.float64)
        for j in range(min(OFFSETS_SHOWN, p)):
            offsets[j] = values[f"offset_{j + 1}"]
        sharpness = float(values["sharpness"])
        for i, c in enumerate(types.tolist()):
            stay = self.stay[c]
            expected = dwell.double() / (1.0 - stay)
            jitter = torch.exp(0.3 * variation * torch.randn(len(stay), generator=generator))
            lengths = (expected * jitter).round().clamp_min(1).long()
            path = torch.repeat_interleave(torch.arange(len(stay)), lengths)
            path = torch.cat([path, path.new_full((max(0, t_len - len(path)),), len(stay) - 1)])
            path = path[:t_len]
            state_shift = torch.randn(self.means.shape[1], p, generator=generator).double()
            state_means = self.means[c].clone()
            static_std = self.variances[c, :, :p].sqrt()
            state_means[:, :p] += (variation * state_shift + offsets) * static_std
            mean[i] = state_means[path]
            variance[i] = self.variances[c][path]
        variance[..., p:] *= sharpness**2
        static = mlpg(mean, variance)
        features = self.frame_mean + static @ self.frame_axes
        layouts = self._pick_layouts(types, generator)
        return self.render(features, transpose(layouts, pitch), generator=generator)

    def _pick_types(
        self, values: Mapping[str, float], n: int, generator: torch.Generator
    ) -> Tensor:
        choice = int(round(values["sound_type"]))
        if choice > 0:
            return torch.full((n,), int(self._present_types()[choice - 1]), dtype=torch.long)
        return torch.multinomial(
            self.type_weights.float(), n, replacement=True, generator=generator
        )

    def _pick_layouts(self, types: Tensor, generator: torch.Generator) -> Tensor:
        picks = []
        for c in types.tolist():
            members = torch.nonzero(self.sound_type == c).flatten()
            if members.numel() == 0:
                members = torch.arange(self.layouts.shape[0])
            picks.append(int(members[torch.randint(members.numel(), (1,), generator=generator)]))
        return self.layouts[torch.tensor(picks)]

    def reconstruct(self, audio: Tensor, *, pitch: Tensor | None = None) -> Tensor:
        """Project each frame on the model's principal axes and render with its own partials."""
        self._require_layouts()
        features, layouts = self.analyse(self.fit_length(audio), pitch)
        static = (features - self.frame_mean) @ self.frame_axes.T
        rebuilt = self.render(
            self.frame_mean + static @ self.frame_axes,
            layouts,
            generator=torch.Generator().manual_seed(0),
        )
        if rebuilt.shape[-1] < audio.shape[-1]:
            rebuilt = torch.nn.functional.pad(rebuilt, (0, audio.shape[-1] - rebuilt.shape[-1]))
        return rebuilt[..., : audio.shape[-1]]


register(
    Family(
        name="hmm",
        title="Hidden Markov model",
        summary="Sounds as a walk through learned stages, with smooth parameter trajectories",
        good_for="Sounds with clear stages (attack, decay, tail) whose timing you want to shape",
        model_class=HMMModel,
    )
)
