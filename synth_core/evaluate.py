"""``timbrelab evaluate RUN DATA``: how well a model reconstructs and imitates a folder of sounds,
next to baselines computed the same way, so the numbers mean something.

Reconstruction (each DATA clip through ``model.reconstruct``): multi-resolution STFT distance,
spectral convergence (dB), log-spectral distance (dB), pitch error (cents, where labelled).
Baselines: eigen-sounds (projection on PCA-32 of the training log-magnitudes, Griffin-Lim),
Griffin-Lim of the true magnitudes (the magnitude representation's own ceiling), Griffin-Lim of
the true magnitudes smoothed over ±2 bins and ±2 frames (an oracle that cannot hold one
recording's noise pattern: the fair reference for noisy sounds such as drums), shaped noise.

Generation (N generated clips against DATA): Fréchet distance between per-clip feature
statistics and the leave-one-out 1-NN two-sample accuracy (0.5 indistinguishable, 1.0 separable)
on :func:`synth_core.metrics.clip_features`, and beside them the memorisation ratio
(:func:`synth_core.metrics.memorisation_ratio` on log-mel statistics: ~1 as novel as a new
recording, below ~0.8 copies of training clips). Baselines: shaped noise; eigen-sounds sampled
from a Gaussian over PCA-32; and the renderer's ceiling — training clips analysed and
resynthesised by the family's own renderer with no model in between.

Ceilings (:func:`representation_ceilings`): training clips rebuilt with no sampling through the
family's representation (``model.reconstruct``: encoder and decoder, or analysis, projection and
resynthesis), PCA-32 and Griffin-Lim of the true magnitudes, scored against DATA exactly as
generated clips are (the renderer alone is generation's "renderer ceiling" row). A model whose
generation scores near its representation's ceiling needs a better representation, not a better
prior. DATA's own rebuilds are not scored against DATA this way: with each clip and its rebuild
left out together the test still reads higher than generation's (the rebuilds sit where the real
clips sit, never in between) — the fallback when the training clips are unknown.
Measurements: docs/experiments/evaluate-ceilings.md.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from synth_core import dsp, metrics, render
from synth_core.errors import CheckpointError, ModelConfigError
from synth_core.latent import NOVELTY
from synth_core.models.base import (  # baselines pass the same limiter as models
    SoundModel,
    safe_audio,
)

if TYPE_CHECKING:
    from synth_core.dataset import ClipSet

log = logging.getLogger(__name__)

N_FFT, HOP = 1024, 256
GRIFFIN_LIM_ITERATIONS = 32
EIGEN_COMPONENTS = 32
LOG_FLOOR = 1e-3
VARIATIONS_ROW = "model, variations (novelty 0)"
"""The generation row of a model that draws new sounds: the same seeds at ``novelty`` 0, i.e.
variations of the training sounds they start from (the "model" row is new sounds)."""
SMOOTHED_ORACLE = "Griffin-Lim of smoothed magnitudes (±2 bins, ±2 frames)"


def griffin_lim_of(mag: Tensor, length: int) -> Tensor:
    """The reference renderer for baselines: peak-locked phase and 32 fast Griffin-Lim steps."""
    out = []
    for start in range(0, mag.shape[0], 32):
        out.append(
            render.render_magnitude(
                mag[start : start + 32],
                n_fft=N_FFT,
                hop=HOP,
                length=length,
                n_iter=GRIFFIN_LIM_ITERATIONS,
            )
        )
    return safe_audio(torch.cat(out))


@dataclass
class EigenSounds:
    """PCA of training log-magnitude spectrograms with a Gaussian over the coefficients."""

    mean: Tensor  # [bins * frames]
    components: Tensor  # [k, bins * frames]
    scales: Tensor  # [k] standard deviation of each coefficient
    shape: tuple[int, int]
    length: int

    @classmethod
    def fit(cls, audio: Tensor, *, components: int = EIGEN_COMPONENTS) -> EigenSounds:
        log_mag = torch.log(dsp.magnitude(audio, n_fft=N_FFT, hop=HOP) + LOG_FLOOR)
        shape = tuple(log_mag.shape[-2:])
        flat = log_mag.flatten(1).double()
        mean = flat.mean(0)
        _, s, vh = torch.linalg.svd(flat - mean, full_matrices=False)
        k = min(components, vh.shape[0])
        scales = s[:k] / math.sqrt(max(1, flat.shape[0] - 1))
        return cls(mean.float(), vh[:k].float(), scales.float(), shape, audio.shape[-1])

    def _render(self, flat: Tensor) -> Tensor:
        mag = (torch.exp(flat.view(-1, *self.shape)) - LOG_FLOOR).clamp_min(0)
        return griffin_lim_of(mag, self.length)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        coeffs = torch.randn(n, len(self.scales), generator=generator) * self.scales
        return self._render(self.mean + coeffs @ self.components)

    def reconstruct(self, audio: Tensor) -> Tensor:
        log_mag = torch.log(dsp.magnitude(audio, n_fft=N_FFT, hop=HOP) + LOG_FLOOR).flatten(1)
        coeffs = (log_mag - self.mean) @ self.components.T
        return self._render(self.mean + coeffs @ self.components)


def smoothed_magnitude(mag: Tensor, *, bins: int = 2, frames: int = 2) -> Tensor:
    """``mag`` ``[n, bins, frames]`` averaged over ±``bins`` bins and ±``frames`` frames (a box,
    shrunk at the edges): keeps a sound's spectral envelope and its shape in time, loses the
    exact noise pattern of one recording, which no generative model can or should reproduce."""
    kernel = (2 * bins + 1, 2 * frames + 1)
    return torch.nn.functional.avg_pool2d(
        mag[:, None], kernel, stride=1, padding=(bins, frames), count_include_pad=False
    )[:, 0]


def shaped_noise(reference: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """White noise given the reference clips' mean magnitude spectrogram (their average spectrum
    and envelope) and random phase."""
    mag = dsp.magnitude(reference, n_fft=N_FFT, hop=HOP).mean(0, keepdim=True).expand(n, -1, -1)
    phase = 2 * math.pi * torch.rand(mag.shape, generator=generator)
    audio = dsp.istft(torch.polar(mag, phase), n_fft=N_FFT, hop=HOP, length=reference.shape[-1])
    return safe_audio(audio)


@dataclass
class Report:
    """Rows of numbers by method; ``notes`` say what was left out and why."""

    reconstruction: dict[str, dict[str, float]] = field(default_factory=dict)
    generation: dict[str, dict[str, float]] = field(default_factory=dict)
    ceilings: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    clips: int = 0
    generated: int = 0
    repeats: int = 1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; a figure that could not be measured (NaN) is null."""

        def table(rows: dict[str, dict[str, float]]) -> dict[str, dict[str, float | None]]:
            return {
                name: {k: v if math.isfinite(v) else None for k, v in row.items()}
                for name, row in rows.items()
            }

        return {
            "clips": self.clips,
            "generated": self.generated,
            "repeats": self.repeats,
            "reconstruction": table(self.reconstruction),
            "generation": table(self.generation),
            "ceilings": table(self.ceilings),
            "notes": self.notes,
        }


def _reconstruction_row(
    real: Tensor, rebuilt: Tensor, pitch: Tensor, rate: int
) -> dict[str, float]:
    row = {
        "mr_stft": float(metrics.mr_stft_distance(real, rebuilt).mean()),
        "sc_db": float(metrics.spectral_convergence_db(real, rebuilt).mean()),
        "lsd_db": float(metrics.log_spectral_distance(real, rebuilt).mean()),
    }
    labelled = torch.isfinite(pitch)
    if bool(labelled.any()):
        cents = metrics.pitch_error_cents(rebuilt[labelled], pitch[labelled], rate)
        cents = cents[torch.isfinite(cents)]
        row["pitch_cents"] = float(cents.median()) if cents.numel() else float("nan")
    return row


@dataclass
class RealFeatures:
    """The held-out clips' features, computed once: :func:`metrics.clip_features` for the
    two-sample tests, log-mel statistics of them and of the training clips for memorisation
    (``train_mel`` None when the training clips are unknown)."""

    clips: Tensor
    mel: Tensor
    train_mel: Tensor | None


def _generation_row(real: RealFeatures, audio: Tensor, rate: int) -> dict[str, float]:
    features = metrics.clip_features(audio, rate)
    row = {
        "frechet": metrics.frechet_distance(real.clips, features),
        "one_nn": metrics.one_nn_accuracy(real.clips, features),
    }
    if real.train_mel is not None:
        row["memorisation"] = metrics.memorisation_ratio(
            metrics.log_mel_statistics(audio, rate), real.mel, real.train_mel
        )
    return row


def _ceiling_row(
    real: RealFeatures, rebuilt: Tensor, rate: int, *, paired: bool = False
) -> dict[str, float]:
    """The generation test with rebuilt clips in place of generated ones (``paired``: they are
    rebuilds of the real clips themselves, each pair left out together)."""
    features = metrics.clip_features(rebuilt, rate)
    return {
        "frechet": metrics.frechet_distance(real.clips, features),
        "one_nn": metrics.one_nn_accuracy(real.clips, features, paired=paired),
    }


def representation_ceilings(
    model: SoundModel,
    train: ClipSet,
    eigen: EigenSounds,
    real: RealFeatures,
    *,
    count: int,
    seed: int,
    rate: int,
) -> dict[str, dict[str, float]]:
    """Generation's ceilings in each representation: ``count`` training clips rebuilt with no
    sampling — by the family's own ``model.reconstruct`` (encoder and decoder, or analysis,
    projection and resynthesis), by PCA-32, by Griffin-Lim of their true magnitudes — and scored
    against the held-out clips exactly as generated clips are. A perfect prior over the
    representation could do no better than its row; a model near its row needs a better
    representation, not a better prior."""
    generator = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(train), generator=generator)[: min(count, len(train))]
    clips = train.audio[pick]
    if model.reconstructs_with_pitch:
        rebuilt = _batched(model.reconstruct, clips, pitch=train.pitch[pick])
    else:
        rebuilt = _batched(model.reconstruct, clips)
    magnitude = dsp.magnitude(clips, n_fft=N_FFT, hop=HOP)
    return {
        "representation (model.reconstruct)": _ceiling_row(real, rebuilt, rate),
        "eigen-sounds (PCA-32)": _ceiling_row(real, eigen.reconstruct(clips), rate),
        "Griffin-Lim of true magnitudes": _ceiling_row(
            real, griffin_lim_of(magnitude, clips.shape[-1]), rate
        ),
    }


def _batched(function: Any, audio: Tensor, **kwargs: Any) -> Tensor:
    with torch.no_grad():
        return torch.cat(
            [
                function(audio[i : i + 16], **{k: v[i : i + 16] for k, v in kwargs.items()})
                for i in range(0, audio.shape[0], 16)
            ]
        )


def evaluate(
    model: SoundModel,
    data: ClipSet,
    train: ClipSet | None,
    *,
    n: int | None = None,
    seed: int = 0,
    repeats: int = 1,
) -> Report:
    """Score ``model`` against the ClipSet ``data``; baselines are fitted on ``train`` (the
    training ClipSet) or, when it is unavailable, on ``data`` itself (noted in the report).

    Generation is scored ``repeats`` times, with seeds ``seed``, ``seed + 1000``, …; each
    generation row then holds the mean and, for ``repeats`` > 1, the standard deviation over
    repeats (``frechet_sd``, ``one_nn_sd``): with 70 + 70 clips a single 1-NN accuracy moves by
    about ±0.035 from seed to seed, more than many differences worth knowing about.
    """
    if repeats < 1:
        raise ModelConfigError(f"repeats must be at least 1, got {repeats}")
    if n is not None and n < 1:  # 0 must not fall back to the default through `n or ...`
        raise ModelConfigError(f"n must be at least 1 generated clip, got {n}")
    report = Report(clips=len(data))
    rate = int(data.sample_rate)
    real = data.audio
    features = RealFeatures(
        metrics.clip_features(real, rate),
        metrics.log_mel_statistics(real, rate),
        None if train is None else metrics.log_mel_statistics(train.audio, rate),
    )
    if train is None:
        train = data
        report.notes.append("training data not found: baselines fitted on DATA itself")
        report.notes.append(
            "memorisation: n/a (training folder not found; pass --train FOLDER to measure it)"
        )
    generator = torch.Generator().manual_seed(seed)
    eigen = EigenSounds.fit(train.audio)

    if model.reconstructs_with_pitch:
        rebuilt = _batched(model.reconstruct, real, pitch=data.pitch)
    else:
        rebuilt = _batched(model.reconstruct, real)
    report.reconstruction["model"] = _reconstruction_row(real, rebuilt, data.pitch, rate)
    projected = eigen.reconstruct(real)
    report.reconstruction["eigen-sounds (PCA-32)"] = _reconstruction_row(
        real, projected, data.pitch, rate
    )
    magnitude = dsp.magnitude(real, n_fft=N_FFT, hop=HOP)
    true_griffin_lim = griffin_lim_of(magnitude, real.shape[-1])
    report.reconstruction["Griffin-Lim of true magnitudes"] = _reconstruction_row(
        real, true_griffin_lim, data.pitch, rate
    )
    report.reconstruction[SMOOTHED_ORACLE] = _reconstruction_row(
        real, griffin_lim_of(smoothed_magnitude(magnitude), real.shape[-1]), data.pitch, rate
    )
    report.reconstruction["shaped noise"] = _reconstruction_row(
        real, shaped_noise(train.audio, len(real), generator), data.pitch, rate
    )

    count = int(n or len(data))
    if features.train_mel is not None:
        report.ceilings = representation_ceilings(
            model, train, eigen, features, count=count, seed=seed, rate=rate
        )
    else:  # only DATA to rebuild: against itself, pairs left out (reads higher than generation)
        report.ceilings = {
            "representation (model.reconstruct)": _ceiling_row(
                features, rebuilt, rate, paired=True
            ),
            "eigen-sounds (PCA-32)": _ceiling_row(features, projected, rate, paired=True),
            "Griffin-Lim of true magnitudes": _ceiling_row(
                features, true_griffin_lim, rate, paired=True
            ),
        }
        report.notes.append(
            "ceilings: DATA rebuilt and scored against itself with pairs left out, which reads "
            "higher (harsher) than generation's test; pass --train FOLDER for comparable rows"
        )
    report.generated = count
    report.repeats = int(repeats)
    rows: dict[str, list[dict[str, float]]] = {}
    for repeat in range(int(repeats)):
        for name, row in _generation_rows(
            model, train, eigen, features, count, seed + 1000 * repeat, rate
        ).items():
            rows.setdefault(name, []).append(row)
    for name, runs in rows.items():
        summary: dict[str, float] = {}
        for key in runs[0]:
            values = [r[key] for r in runs]
            finite = all(math.isfinite(v) for v in values)
            summary[key] = statistics.fmean(values) if finite else math.nan
            if len(runs) > 1:
                summary[f"{key}_sd"] = statistics.stdev(values) if finite else math.nan
        report.generation[name] = summary
    if not math.isfinite(report.generation["model"].get("memorisation", 0.0)):
        report.notes.append(
            "memorisation: n/a (the DATA clips are themselves training clips: evaluate on "
            "held-out sounds)"
        )
    if VARIATIONS_ROW in report.generation:
        report.notes.append(
            "model: new sounds (novelty 1, as far from the training sounds as a new recording "
            f"is); {VARIATIONS_ROW}: the same seeds as variations of the training sounds"
        )
    if not model.can_resynthesize:
        report.notes.append(f"{model.family} has no resynthesize(): no renderer ceiling row")
    return report


def _generation_rows(
    model: SoundModel,
    train: ClipSet,
    eigen: EigenSounds,
    real_features: RealFeatures,
    count: int,
    seed: int,
    rate: int,
) -> dict[str, dict[str, float]]:
    """One scoring of generation: the model, shaped noise, eigen-sounds and the renderer's
    ceiling, each ``count`` clips drawn with ``seed``."""
    generator = torch.Generator().manual_seed(seed)

    def draw(values: dict[str, float] | None) -> Tensor:
        with torch.no_grad():
            return torch.cat(
                [
                    model.generate(values, n=min(16, count - i), seed=seed + i)
                    for i in range(0, count, 16)
                ]
            )

    rows = {"model": _generation_row(real_features, draw(None), rate)}
    if any(control.name == NOVELTY.name for control in model.controls()):
        # the "model" row is new sounds (novelty at its default, 1); this one is what the
        # same seeds give as variations of the training sounds they start from
        rows[VARIATIONS_ROW] = _generation_row(real_features, draw({NOVELTY.name: 0.0}), rate)
    rows |= {
        "shaped noise": _generation_row(
            real_features, shaped_noise(train.audio, count, generator), rate
        ),
        "eigen-sounds (PCA-32)": _generation_row(
            real_features, eigen.sample(count, generator), rate
        ),
    }
    if model.can_resynthesize:
        pick = torch.randperm(len(train), generator=generator)[:count]
        ceiling = _batched(model.resynthesize, train.audio[pick])
        rows["renderer ceiling"] = _generation_row(real_features, ceiling, rate)
    return rows


def _mean_sd(row: dict[str, float], key: str, digits: int, repeats: int) -> str:
    value = row.get(key)
    if value is None or not math.isfinite(value):
        return "n/a"
    if repeats > 1 and math.isfinite(row.get(f"{key}_sd", math.nan)):
        return f"{value:.{digits}f} ± {row[f'{key}_sd']:.{digits}f}"
    return f"{value:.{digits}f}"


def format_report(report: Report) -> str:
    """The report as the terminal shows it: three tables and the notes."""
    width = 2 + max(len(name) for name in [*report.reconstruction, *report.generation, ""])
    lines = [f"Reconstruction of {report.clips} clips (lower is better)"]
    lines.append(f"  {'':{width}}{'MR-STFT':>9}{'SC dB':>9}{'LSD dB':>9}{'pitch ¢':>9}")
    for name, row in report.reconstruction.items():
        cents = row.get("pitch_cents")
        cents_text = "—" if cents is None or not math.isfinite(cents) else f"{cents:.1f}"
        lines.append(
            f"  {name:{width}}{row['mr_stft']:9.3f}{row['sc_db']:9.2f}{row['lsd_db']:9.2f}"
            f"{cents_text:>9}"
        )
    lines.append("")
    lines.append(
        f"Generation: {report.generated} clips vs the {report.clips} real ones "
        "(1-NN: 0.5 = indistinguishable, 1.0 = separable; memorisation: 1 = as novel as a new "
        "recording, < 0.8 = copies)"
    )
    column = 18 if report.repeats > 1 else 14
    if report.repeats > 1:
        lines[-1] += f", mean ± sd over {report.repeats} seeds"
    lines.append(f"  {'':{width}}{'Fréchet':>{column}}{'1-NN':>{column}}{'memorisation':>{column}}")
    for name, row in report.generation.items():
        cells = (
            _mean_sd(row, "frechet", 1, report.repeats),
            _mean_sd(row, "one_nn", 3, report.repeats),
            _mean_sd(row, "memorisation", 2, report.repeats),
        )
        lines.append(f"  {name:{width}}" + "".join(f"{cell:>{column}}" for cell in cells))
    if report.ceilings:
        lines.append("")
        lines.append(
            "Ceilings: training clips rebuilt in each representation with no sampling, scored "
            "as generation is"
        )
        lines.append(f"  {'':{width}}{'Fréchet':>10}{'1-NN':>10}")
        for name, row in report.ceilings.items():
            lines.append(f"  {name:{width}}{row['frechet']:10.1f}{row['one_nn']:10.3f}")
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)


def training_clips(
    run: str, sample_rate: int, seconds: float, *, folder: str | Path | None = None
) -> ClipSet | None:
    """The clips the run was trained on, less its held-out files: from ``folder`` when given,
    else from the folder its model.json records, if that still exists; None when unknown."""
    from synth_core import checkpoint
    from synth_core.dataset import load_clips
    from synth_core.train import subset

    try:
        dataset = checkpoint.read_record(run).dataset
    except CheckpointError:  # a starter name or physical:… has no record to follow
        dataset = {}
    folder = folder if folder is not None else dataset.get("folder")
    if not folder or not Path(folder).is_dir():
        return None
    clips = load_clips(folder, sample_rate=sample_rate, seconds=seconds)
    held = set(dataset.get("held_out_files", []))
    keep = [i for i, p in enumerate(clips.paths) if Path(p).name not in held]
    return subset(clips, keep) if keep else clips
