"""Compact frame features shared by the gmm, hmm and rnn families.

Each sound is analysed by :mod:`synth_core.ddsp` into partials plus band noise. These families
learn the levels of those parts frame by frame, as *features*: ``[T, D]`` with ``D = K + M``
(K partial amplitudes, then M noise bands), each level in dB mapped to roughly −1.3…2 so that
one scale suits every dimension. Where each partial sits in frequency is the sound's *layout*
(``[K + 1]``: log2 of the reference frequency, then log2 of each partial's ratio to it). Layouts
are not generated: a model takes one from a training sound (by seed, by nearness, or from a primer
file), so a bell keeps its bell-like partials and a string stays harmonic. The ``pitch`` of
``generate`` transposes the layout.

:class:`FrameFamily` holds what the four families share: config, analysis of a ClipSet, the table
of training layouts, rendering features to audio, and naming latent axes by what they change.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from synth_core import ddsp, dsp
from synth_core.errors import ModelConfigError
from synth_core.models.base import ModelConfig, TrainableModel, safe_audio

logger = logging.getLogger(__name__)

DB_FLOOR = 20.0 * math.log10(ddsp.AMPLITUDE_FLOOR)  # −100 dB
# Generated levels at or below this are silence. A model writes "silent" (an absent partial, a
# tail that has died away) as the floor code, and what it generates there — a PCA projection, a
# sampled Gaussian — lands near the floor, not on it: ±10 dB of error around −100 dB. Played as
# levels, those near-floor values fill every silent partial and band with a faint hiss the real
# sounds lack, and the 1-NN test hears it in the tail's log-mel. Measured on the built-in sounds
# (training clips' frames projected on the rnn's 16 frame axes and rendered, 1-NN against the
# test split, 3 picks): 0.950 with the gate at the floor, 0.843 at −95 dB, 0.836 at −90 dB; the
# unprojected frames score 0.800 either way, so real levels are not cut.
DB_SILENT = -90.0
# features = (level_dB − DB_CENTRE) / DB_SCALE: −100 dB → −1.33, 0 dB → 2.
DB_CENTRE = -60.0
DB_SCALE = 30.0
ANALYSIS_BATCH = 32
#: Each training clip's noise floor is this quantile of its frames' band levels (its quietest
#: tenth, the tail a one-shot decays into); the model's floor is the median over clips.
NOISE_FLOOR_QUANTILE = 0.1
#: Key of the noise floor in a frame family's saved state (absent in models saved before it).
NOISE_FLOOR_KEY = "noise_floor"
#: An axis is named after a descriptor only when they correlate at least this much.
NAMED_BELOW_R = 0.3


@dataclass(frozen=True)
class FrameConfig(ModelConfig):
    """Settings every frame family shares (on top of sample rate and clip length).

    hop : samples between frames.
    n_partials : sinusoidal partials per sound.
    n_bands : mel-spaced noise bands.
    """

    hop: int = 256
    n_partials: int = 24
    n_bands: int = 32

    def validate(self) -> None:
        super().validate()
        if not 64 <= int(self.hop) <= 2048:
            raise ModelConfigError(f"hop {self.hop} is outside 64–2048 samples")
        if not 1 <= int(self.n_partials) <= 128:
            raise ModelConfigError(f"n_partials {self.n_partials} is outside 1–128")
        if not 4 <= int(self.n_bands) <= 128:
            raise ModelConfigError(f"n_bands {self.n_bands} is outside 4–128")

    @property
    def ddsp_settings(self) -> ddsp.DDSPSettings:
        return ddsp.DDSPSettings(
            sample_rate=int(self.sample_rate),
            hop=int(self.hop),
            # About 46 ms: fine enough to separate partials 25 Hz apart.
            n_fft=max(2 ** math.ceil(math.log2(0.04 * int(self.sample_rate))), 2 * int(self.hop)),
            noise_fft=4 * int(self.hop),
            n_partials=int(self.n_partials),
            n_bands=int(self.n_bands),
        )

    @property
    def n_frames(self) -> int:
        return self.ddsp_settings.n_frames(self.clip_samples)

    @property
    def feature_dim(self) -> int:
        return int(self.n_partials) + int(self.n_bands)

    def allocations(self) -> dict[str, int]:
        return super().allocations() | {
            "a clip's frame features (clip frames at hop × (n_partials + n_bands))": (
                self.n_frames * self.feature_dim
            )
        }


def level_to_feature(level: Tensor) -> Tensor:
    """Linear amplitude → feature units (dB, floored at −100, centred and scaled)."""
    db = 20.0 * torch.log10(level.clamp_min(ddsp.AMPLITUDE_FLOOR))
    return (db - DB_CENTRE) / DB_SCALE


def feature_to_level(feature: Tensor) -> Tensor:
    """Feature units → linear amplitude; anything at or below ``DB_SILENT`` is silent."""
    db = feature * DB_SCALE + DB_CENTRE
    return torch.where(db <= DB_SILENT, 0.0, 10.0 ** (db.clamp(max=20.0) / 20.0))


def encode(frames: ddsp.Frames) -> tuple[Tensor, Tensor]:
    """Frames → ``(features [B, T, K + M], layouts [B, K + 1])``."""
    features = torch.cat(
        [level_to_feature(frames.amplitudes), level_to_feature(frames.noise)], dim=-1
    )
    layouts = torch.cat(
        [torch.log2(frames.f0_hz)[:, None], torch.log2(frames.ratios.clamp_min(1e-3))], dim=-1
    )
    return features, layouts


def decode(features: Tensor, layouts: Tensor, n_partials: int) -> ddsp.Frames:
    """``(features [B, T, D], layouts [B, K + 1])`` → Frames for the synthesiser."""
    levels = feature_to_level(features)
    return ddsp.Frames(
        f0_hz=2.0 ** layouts[:, 0],
        ratios=2.0 ** layouts[:, 1:],
        amplitudes=levels[..., :n_partials],
        noise=levels[..., n_partials:],
    )


def transpose(layouts: Tensor, pitch: float | None) -> Tensor:
    """Layouts moved so their reference frequency is MIDI note ``pitch`` (None: unchanged)."""
    if pitch is None:
        return layouts
    if not math.isfinite(pitch) or not 0.0 <= pitch <= 135.0:
        raise ModelConfigError(f"pitch {pitch} is outside MIDI 0–135")
    layouts = layouts.clone()
    layouts[:, 0] = math.log2(440.0) + (pitch - 69.0) / 12.0
    return layouts


def analyse_audio(
    audio: Tensor,
    pitch: Tensor | None,
    config: FrameConfig,
    *,
    floors: list[Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """Audio ``[N, samples]`` → ``(features [N, T, D], layouts [N, K + 1])``, in chunks; with a
    ``floors`` list, each chunk's per-clip noise floors ``[n, M]`` (linear, not clamped at the
    features' −100 dB) are appended to it."""
    settings = config.ddsp_settings
    features, layouts = [], []
    for start in range(0, audio.shape[0], ANALYSIS_BATCH):
        chunk = audio[start : start + ANALYSIS_BATCH].float()
        chunk_pitch = None if pitch is None else pitch[start : start + ANALYSIS_BATCH]
        frames = ddsp.analyse(chunk, settings, pitch_midi=chunk_pitch)
        if floors is not None:
            floors.append(frames.noise.float().quantile(NOISE_FLOOR_QUANTILE, dim=1).cpu())
        f, lay = encode(frames)
        features.append(f)
        layouts.append(lay)
    return torch.cat(features), torch.cat(layouts)


def pca(data: Tensor, components: int) -> tuple[Tensor, Tensor, Tensor]:
    """Principal axes of ``data [N, F]``.

    Returns ``(mean [F], axes [P, F], variances [P])`` with ``P = min(components, N - 1, F)``,
    axes as orthonormal rows, strongest first.
    """
    mean = data.mean(dim=0)
    centred = (data - mean).double()
    p = max(1, min(components, data.shape[0] - 1, data.shape[1]))
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    variances = singular[:p].square() / max(1, data.shape[0] - 1)
    return mean, vh[:p].float().contiguous(), variances.float()


def padded_pca(data: Tensor, components: int, *, std_floor: float) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`pca` with exactly ``components`` axes, for fixed-size model buffers.

    Returns ``(mean [F], axes [components, F], std [components])``: axes that tiny data cannot
    supply are zero rows (so they contribute nothing) with deviation 1; the others' deviations
    are floored at ``std_floor``.
    """
    mean, axes, variances = pca(data, components)
    found = axes.shape[0]
    padded = torch.zeros(components, data.shape[1])
    padded[:found] = axes
    std = torch.ones(components)
    std[:found] = variances.sqrt().clamp_min(std_floor)
    return mean, padded, std


def kmeans(data: Tensor, k: int, *, generator: torch.Generator, iterations: int = 25) -> Tensor:
    """Cluster labels ``[N]`` of ``data [N, F]`` (k-means++ seeding, Lloyd iterations)."""
    n = data.shape[0]
    k = max(1, min(k, n))
    centres = [data[int(torch.randint(n, (1,), generator=generator))]]
    for _ in range(1, k):
        distance = torch.cdist(data, torch.stack(centres)).amin(dim=1).square()
        if float(distance.sum()) <= 0:
            break
        pick = torch.multinomial(distance / distance.sum(), 1, generator=generator)
        centres.append(data[int(pick)])
    centre = torch.stack(centres)
    labels = torch.zeros(n, dtype=torch.long)
    for _ in range(iterations):
        labels = torch.cdist(data, centre).argmin(dim=1)
        for j in range(centre.shape[0]):
            members = data[labels == j]
            if members.shape[0]:
                centre[j] = members.mean(dim=0)
    return labels


def name_axes(
    audio_per_axis: Mapping[int, tuple[Tensor, Tensor]], sample_rate: int
) -> dict[int, tuple[str, float]]:
    """Name latent axes by the descriptor they move most.

    ``audio_per_axis[j] = (positions [S], audio [S, samples])``: sounds rendered at positions
    along axis ``j``. Returns ``{j: (descriptor, r)}``: the descriptor of
    :func:`synth_core.dsp.descriptors` (pitch aside) most correlated with the position, and the
    correlation.
    """
    names = {}
    for axis, (positions, audio) in audio_per_axis.items():
        values = dsp.descriptors(audio, sample_rate, torch.full((audio.shape[0],), 60.0))
        best, best_r = "loudness", 0.0
        for name, value in values.items():
            if name == "pitch":
                continue
            r = _correlation(positions.float(), value.float())
            if abs(r) > abs(best_r):
                best, best_r = name, r
        names[axis] = (best, best_r)
    return names


def _correlation(x: Tensor, y: Tensor) -> float:
    x, y = x - x.mean(), y - y.mean()
    denominator = float(x.norm() * y.norm())
    return float((x * y).sum()) / denominator if denominator > 0 else 0.0


class FrameFamily(TrainableModel):
    """What the gmm, hmm, rnn and gan families share; each subclasses this.

    Subclasses set ``family`` and ``config_class`` and define ``controls``, ``generate``,
    ``step``, ``state`` and ``load_state``; they call :meth:`render` to make audio.
    """

    family: str = ""
    config_class: type[FrameConfig] = FrameConfig
    # Each family learns from the frames ``begin`` analysed (the gmm's and hmm's sets) or reads
    # them by clip index (the rnn's cache), never from a batch's audio, so the Trainer's
    # augmentation of batches would be unused work (63% of the step time of a GAN over frame
    # codes that this project had before).
    augments = False
    can_resynthesize = True
    reconstructs_with_pitch = True

    def __init__(self, config: FrameConfig) -> None:
        config.validate()
        self.config = config
        self.sample_rate = int(config.sample_rate)
        self.settings = config.ddsp_settings
        # Layouts of the training sounds: data-sized, filled by begin() or load_state().
        self.layouts = torch.zeros(0, config.n_partials + 1)
        # Features of the training sounds by clip index, kept from begin() so learners that step
        # through batches do not analyse the same audio again (not saved: after a resume, batch
        # audio is analysed instead).
        self._cached_features: Tensor | None = None
        # The training recordings' noise floor per band, linear (zeros: digital silence, and
        # models saved before it); see analyse_training.
        self.noise_floor = torch.zeros(config.n_bands)

    def analyse_training(self, audio: Tensor, pitch: Tensor | None) -> tuple[Tensor, Tensor]:
        """:meth:`analyse` of the training clips, which also fits :attr:`noise_floor`.

        Real recordings never fall silent: a one-shot decays into the hiss and dither of its
        recording, about −97 dB per band in real drums and notes. The features cannot hold it
        (levels are floored at −100 dB and generated levels below ``DB_SILENT`` play as silence),
        so these families rendered digital silence where every recording has that floor, and a
        listener's meter, and the two-sample test's log-mel features, told them apart at once.
        :meth:`render` keeps every band at least at the floor measured here: the median over
        clips of each clip's quietest tenth of frames. Sounds that fall truly silent (the built-in
        ones) measure a floor of −140 to −150 dB, far below hearing and below the floor of
        the features and of the two-sample test, so they render as before.
        Measured (renderer alone, real drums, 1-NN): 0.937 without the floor, 0.659–0.667 with
        quantiles 0.05–0.2; docs/experiments/frame-noise-floor.md.
        """
        if audio.ndim != 2:
            raise ModelConfigError(f"expected audio [n, samples], got shape {tuple(audio.shape)}")
        floors: list[Tensor] = []
        features, layouts = analyse_audio(audio.detach().cpu(), pitch, self.config, floors=floors)
        self.noise_floor = torch.cat(floors).median(dim=0).values.clamp_min(0.0)
        return features, layouts

    def floor_state(self) -> dict[str, Tensor]:
        """The noise floor as a saved-state entry, for the families' ``state``."""
        return {NOISE_FLOOR_KEY: self.noise_floor}

    def load_floor(self, state: Mapping[str, Tensor]) -> None:
        """The noise floor from a saved state; zeros (digital silence) when it has none."""
        floor = state.get(NOISE_FLOOR_KEY)
        bands = int(self.config.n_bands)
        if floor is None:
            self.noise_floor = torch.zeros(bands)
            return
        if tuple(floor.shape) != (bands,):
            raise ModelConfigError(
                f"tensor {NOISE_FLOOR_KEY!r} has shape {list(floor.shape)}, where this model "
                f"needs [{bands}]"
            )
        # NaN is kept: like any corrupt weight it renders NaN, which generation refuses by name
        self.noise_floor = floor.float().clamp_min(0.0).clone()

    def remember_training_set(self, features: Tensor, layouts: Tensor) -> None:
        """Keep the analysed training set (``[N, T, D]``, ``[N, K + 1]``) for :meth:`batch_frames`."""
        self._cached_features = features
        self.layouts = layouts

    def batch_frames(
        self, audio: Tensor, pitch: Tensor | None, index: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Features and layouts of a training batch: from the cache by ``index`` when it holds
        them, else analysed from ``audio``."""
        cached = self._cached_features
        if cached is not None and index is not None and int(index.max()) < cached.shape[0]:
            index = index.cpu()
            return cached[index], self.layouts[index]
        return self.analyse(audio, pitch)

    @classmethod
    def from_config(cls, config: FrameConfig, **_: Any) -> FrameFamily:
        return cls(config)

    def analyse(self, audio: Tensor, pitch: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Audio ``[N, samples]`` → ``(features [N, T, D], layouts [N, K + 1])``."""
        if audio.ndim != 2:
            raise ModelConfigError(f"expected audio [n, samples], got shape {tuple(audio.shape)}")
        return analyse_audio(audio.detach().cpu(), pitch, self.config)

    def _require_layouts(self) -> None:
        if self.layouts.shape[0] == 0:
            raise ModelConfigError(
                f"this {self.family} model has not been trained yet: it has no sounds to draw "
                "partial layouts from"
            )

    def render(
        self,
        features: Tensor,
        layouts: Tensor,
        *,
        generator: torch.Generator,
        samples: int | None = None,
    ) -> Tensor:
        """Features ``[B, T, D]`` and layouts ``[B, K + 1]`` → audio ``[B, samples]``, |x| ≤ 1."""
        samples = self.config.clip_samples if samples is None else int(samples)
        frames = decode(features.detach().float().cpu(), layouts.cpu(), self.config.n_partials)
        if bool((self.noise_floor != 0).any()):
            noise = torch.maximum(frames.noise, self.noise_floor)
            frames = ddsp.Frames(frames.f0_hz, frames.ratios, frames.amplitudes, noise)
        audio = ddsp.synthesize(frames, samples, self.settings, generator=generator)
        return safe_audio(audio)

    def fit_length(self, audio: Tensor) -> Tensor:
        """Audio cut or zero-padded to the model's clip length."""
        samples = self.config.clip_samples
        if audio.shape[-1] >= samples:
            return audio[..., :samples]
        return torch.nn.functional.pad(audio, (0, samples - audio.shape[-1]))

    def resynthesize(self, audio: Tensor, *, pitch: Tensor | None = None) -> Tensor:
        """The renderer alone: analysis then synthesis, no model (the renderer's ceiling)."""
        features, layouts = self.analyse(audio, pitch)
        return self.render(
            features, layouts, generator=torch.Generator().manual_seed(0), samples=audio.shape[-1]
        )

    def reconstruct(self, audio: Tensor, *, pitch: Tensor | None = None) -> Tensor:
        """Analysis-resynthesis through the frame features; families that compress override it."""
        return self.resynthesize(audio, pitch=pitch)
