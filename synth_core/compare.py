"""``timbrelab compare``: several families trained on the same folder with the same time budget,
then scored and heard side by side, for teaching what each family of models does.

Each family is trained by :class:`synth_core.train.Trainer` into ``OUT/runs/FAMILY`` (the runs
are ordinary run directories: ``generate`` and the app open them), one after another in this
process: training already uses every core, so parallel runs would only share them. Each trained
model is then scored against the test folder (or the held-out split of the data) on the figures
the comparison shows, with :mod:`synth_core.evaluate`'s own row functions, so each number is the
one ``timbrelab evaluate`` prints for the same model, clips and seed (:class:`Scorer`); timed on
one ``generate`` call (real-time factor) and heard in a strip of generated sounds in
``OUT/sounds/FAMILY``. Beside the families stand the real test clips and the eigen-sounds baseline
(PCA-32 of the training log-magnitudes), scored once, not once a family.

Each row also says where the time went (``timings``: preparing the data and the learner, training
by the wall clock, scoring, hearing), so a lesson's length can be checked against its promise.

``OUT/compare.json`` holds the rows (:data:`COMPARE_FILE`); ``OUT/report.html`` is written from it
by :mod:`synth_core.report_html`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from synth_core.errors import DatasetError, ModelConfigError, OutOfMemoryError, TrainingError

log = logging.getLogger(__name__)

COMPARE_FILE = "compare.json"
REPORT_FILE = "report.html"
FORMAT_VERSION = 1
STRIP_SOUNDS = 4
"""Generated sounds per family in the strip (and real clips, and eigen-sounds)."""
EIGEN_ROW = "eigen-sounds (PCA-32)"
LESSON_MINUTES = 1.0
"""The lesson preset's training budget per family, at most (see :data:`LESSON_TOTAL_MINUTES`)."""
LESSON_TOTAL_MINUTES = 9.5
"""The lesson's whole length by the wall clock, training, scoring and hearing all seven families:
the class sees the taxonomy in under ten minutes (half a minute is left for starting up and
writing the report). Preparing a family (the physical family's sound matching of every clip) and
scoring it cost time beyond its minute, so each family trains for less than
:data:`LESSON_MINUTES` when the families still to come need the time; each row says how long it
trained. Measured in ``docs/experiments/lesson-timing.md``."""
FIRST_OVERHEAD_S = 40.0
"""Before any family has finished, the guess at what one costs beyond its training budget
(preparing the data and the learner, scoring, hearing); later the mean of those measured."""
MIN_TRAIN_SECONDS = 10.0
"""Under a total budget no family trains for less than this: a model trained for less teaches
nothing, and the comparison then runs over its total (the notes say so)."""
LESSON_TEST_CLIPS = 16
"""Test clips the lesson scores on: scoring time grows with them (evaluate's Griffin-Lim
baselines), and 16 keep it to seconds a family while 1-NN still separates the families."""
LESSON_PRESETS: dict[str, str] = {"physical": "quick"}
"""Presets the lesson trains with: the physical family's ``begin`` matches every training clip
(random search of each instrument, then a few gradient steps), 134 s of the lesson on a busy
2-core machine before any budgeted step; ``quick`` tries 4 candidates on 0.4 s of each clip
instead of 6 on 0.5 s. The sound matching is the same, only coarser."""
LESSON_SCORING: dict[str, dict[str, Any]] = {
    "physical": {"fit_steps": 4},
    "cnn": {"refine_steps": 20},
    "vae": {"refine_steps": 20},
    "gan": {"refine_steps": 20},
}
"""Settings the lesson scores with, on top of what each trained model saved: fewer gradient
steps when a model rebuilds a test clip (the reconstruction column). The spectral families refine
each clip's latent for 200 Adam steps and the physical family its fitted settings for 20, most of
the lesson's 340 s of scoring; the saved runs keep their own settings. Each row's note says what
was changed, so a lesson's reconstruction figure is not read as ``timbrelab evaluate``'s."""
SETTING_WORDS = {
    "refine_steps": "reconstruction refined {new} steps, not {old}",
    "fit_steps": "reconstruction fitted {new} steps, not {old}",
}
"""How a scoring setting is named in a row's note (others: ``NAME NEW, not OLD``)."""

Event = dict[str, Any]


@dataclass(frozen=True)
class CompareSettings:
    """What to compare: ``families`` trained on ``data`` for ``minutes`` and/or ``steps`` each,
    scored on ``test`` (None: the held-out split of ``data``), at most ``test_clips`` of them
    (evenly spaced; None: all), written under ``out``. With ``total_minutes`` the whole
    comparison is to end within that many minutes of wall-clock time: each family trains for
    ``minutes`` or less, what the families still to come leave it (:func:`family_minutes`).

    ``presets`` names a family's preset to train with (``{"physical": "quick"}``);
    ``scoring`` holds config settings that replace the trained model's own while it is scored
    (``{"vae": {"refine_steps": 20}}``: :func:`scoring_model`); the saved run keeps its own.
    Both are for a shorter lesson and each is named in the notes and the row."""

    data: Path
    families: tuple[str, ...]
    out: Path
    minutes: float | None = None
    steps: int | None = None
    test: Path | None = None
    seed: int = 0
    device: str | None = None
    test_clips: int | None = None
    total_minutes: float | None = None
    presets: Mapping[str, str] = field(default_factory=dict)
    scoring: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from synth_core.models import get_family

        if not self.families:
            raise ModelConfigError("name at least one family to compare (--families vae,gmm)")
        if len(set(self.families)) != len(self.families):
            raise ModelConfigError(f"a family is named twice in {','.join(self.families)}")
        for name in self.families:
            get_family(name)  # an unknown name fails here, before any training
        if self.minutes is None and self.steps is None:
            raise ModelConfigError("give --minutes or --steps: the budget every family shares")
        if self.total_minutes is not None and not self.total_minutes > 0:
            raise ModelConfigError(f"total_minutes must be positive, got {self.total_minutes}")
        from synth_core.train.learners import family_presets

        for kind, table in (("a preset", self.presets), ("scoring settings", self.scoring)):
            extra = sorted(set(table) - set(self.families))
            if extra:
                raise ModelConfigError(f"{kind} for {', '.join(extra)}, which is not compared")
        for name, preset in self.presets.items():
            known = family_presets(get_family(name).model_class)
            if preset not in known:
                raise ModelConfigError(
                    f"family {name!r} has no preset {preset!r}; known: {', '.join(known) or 'none'}"
                )
        for name, values in self.scoring.items():
            # unknown names and values out of range fail here, before any training
            get_family(name).model_class.config_class.from_dict(dict(values))


@dataclass
class CompareResult:
    """The rows of one comparison, as ``compare.json`` stores them."""

    settings: CompareSettings
    rows: list[dict[str, Any]] = field(default_factory=list)
    baseline: dict[str, Any] = field(default_factory=dict)
    real: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stopped: bool = False
    wall_seconds: float | None = None
    """The whole comparison by the wall clock (training, scoring, hearing), seconds."""

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "format_version": FORMAT_VERSION,
            "data": str(s.data),
            "test": None if s.test is None else str(s.test),
            "families": list(s.families),
            "minutes": s.minutes,
            "total_minutes": s.total_minutes,
            "steps": s.steps,
            "presets": dict(s.presets),
            "scoring": {name: dict(values) for name, values in s.scoring.items()},
            "rows": self.rows,
            "baseline": self.baseline,
            "real": self.real,
            "notes": self.notes,
            "stopped": self.stopped,
            "wall_seconds": self.wall_seconds,
        }


def family_minutes(
    settings: CompareSettings, index: int, elapsed_s: float, overheads: Sequence[float]
) -> float | None:
    """The training minutes of family number ``index`` when ``elapsed_s`` seconds of the
    comparison have gone and the families before it cost ``overheads`` seconds each beyond
    their training (preparing, scoring, hearing).

    Without ``settings.total_minutes``: ``settings.minutes``. With it: the time left shared
    equally among this family and those to come, less the overhead each is expected to cost
    (the mean of ``overheads``, :data:`FIRST_OVERHEAD_S` before any), capped at
    ``settings.minutes`` and at least :data:`MIN_TRAIN_SECONDS`. A slow or busy machine so
    trains each family for less rather than running past the total; the last family gets what
    the others left.
    """
    if settings.total_minutes is None:
        return settings.minutes
    left = len(settings.families) - index
    overhead = sum(overheads) / len(overheads) if overheads else FIRST_OVERHEAD_S
    share_s = (settings.total_minutes * 60.0 - elapsed_s) / left - overhead
    if settings.minutes is not None:
        share_s = min(share_s, settings.minutes * 60.0)
    return max(share_s, MIN_TRAIN_SECONDS) / 60.0


def scoring_model(model: Any, settings: Mapping[str, Any]) -> tuple[Any, list[str]]:
    """``model`` with ``settings`` in place of its config's own (validated), for scoring, and
    what changed in words (``reconstruction refined 20 steps, not 200``; nothing for a setting
    already so). The model's ``reconstruct`` reads its config when called, so the next
    reconstruction follows; the run on disk is not touched."""
    if not settings:
        return model, []
    old = model.config
    model.config = old.replace(**dict(settings))
    said = []
    for name, new in settings.items():
        before = getattr(old, name)
        if before != new:
            words = SETTING_WORDS.get(name, "{name} {new}, not {old}")
            said.append(words.format(name=name, new=new, old=before))
    return model, said


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _bytes_of(run_dir: Path) -> int:
    """The model's size on disk: its ``model.json`` and weights (not the optimiser state, which
    only a resumed run needs)."""
    from synth_core import checkpoint as ckpt

    return sum(
        (run_dir / name).stat().st_size
        for name in (ckpt.MODEL_FILE, ckpt.WEIGHTS_FILE)
        if (run_dir / name).is_file()
    )


def _write_strip(audio: torch.Tensor, folder: Path, rate: int, stem: str) -> list[str]:
    from synth_core import audio as audio_io

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, clip in enumerate(audio[:STRIP_SOUNDS]):
        path = audio_io.save(clip.numpy(), folder / f"{stem}_{i + 1}.wav", sample_rate=rate)
        paths.append(str(Path(path).relative_to(folder.parent.parent)))
    return paths


def _timed_generate(model: Any, n: int, seed: int) -> tuple[torch.Tensor, float]:
    """``n`` sounds and the real-time factor of making them (seconds of sound per second of
    compute; above 1 is faster than real time). A first short call warms caches up."""
    with torch.no_grad():
        model.generate(n=1, seed=seed)
        start = time.perf_counter()
        audio = model.generate(n=n, seed=seed)
        wall = max(time.perf_counter() - start, 1e-9)
    seconds = audio.shape[0] * audio.shape[-1] / float(model.sample_rate)
    return audio, seconds / wall


class Scorer:
    """The figures a comparison row shows, scored as :func:`synth_core.evaluate.evaluate` scores
    them but without the rows the comparison does not show.

    ``evaluate`` also rebuilds the test clips by Griffin-Lim (true and smoothed magnitudes),
    shaped noise, the representation ceilings (the model's ``reconstruct`` of as many training
    clips again) and the renderer ceiling (its ``resynthesize`` of them), and all of its baselines
    anew for every family. For the physical family each ceiling is another sound-matching search;
    in the lesson those rows cost more than the model's own. Here a family costs one
    reconstruction of the test clips and one generation, and the eigen-sounds baseline and the
    real clips' features are computed once for each clip rate and length. The same row functions
    and seeds give the same numbers as ``evaluate`` (a test holds them equal).
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self._baselines: dict[tuple[int, int], dict[str, Any]] = {}

    def baseline(self, test: Any, train: Any) -> dict[str, Any]:
        """The real clips' features, the fitted eigen-sounds and their rows, for ``test``'s
        rate and length (computed on the first call for them)."""
        from synth_core import metrics
        from synth_core.evaluate import (
            EigenSounds,
            RealFeatures,
            _generation_row,
            _reconstruction_row,
            shaped_noise,
        )

        rate = int(test.sample_rate)
        key = (rate, int(test.audio.shape[-1]))
        if key in self._baselines:
            return self._baselines[key]
        real = test.audio
        features = RealFeatures(
            metrics.clip_features(real, rate),
            metrics.log_mel_statistics(real, rate),
            metrics.log_mel_statistics(train.audio, rate),
        )
        eigen = EigenSounds.fit(train.audio)
        # evaluate draws shaped noise before eigen-sounds from one generator: the same draws
        # here keep the eigen-sounds figures equal to its report
        generator = torch.Generator().manual_seed(self.seed)
        shaped_noise(train.audio, len(test), generator)
        generation = _generation_row(features, eigen.sample(len(test), generator), rate)
        reconstruction = _reconstruction_row(real, eigen.reconstruct(real), test.pitch, rate)
        self._baselines[key] = {
            "features": features,
            "eigen": eigen,
            "generation": generation,
            "reconstruction": reconstruction,
        }
        return self._baselines[key]

    def score(self, model: Any, test: Any, train: Any) -> tuple[dict[str, float], list[str]]:
        """``model``'s generation row (``frechet``, ``one_nn``, ``memorisation``) and
        reconstruction row (``mr_stft``, ``sc_db``, ``lsd_db``, ``pitch_cents``) in one dict,
        scored on ``test`` with ``len(test)`` generated clips, and notes on what is n/a."""
        from synth_core.evaluate import _batched, _generation_row, _reconstruction_row

        base = self.baseline(test, train)
        rate = int(test.sample_rate)
        real = test.audio
        if model.reconstructs_with_pitch:
            rebuilt = _batched(model.reconstruct, real, pitch=test.pitch)
        else:
            rebuilt = _batched(model.reconstruct, real)
        row = _reconstruction_row(real, rebuilt, test.pitch, rate)
        count = len(test)
        with torch.no_grad():
            generated = torch.cat(
                [
                    model.generate(n=min(16, count - i), seed=self.seed + i)
                    for i in range(0, count, 16)
                ]
            )
        row |= _generation_row(base["features"], generated, rate)
        notes = []
        if not math.isfinite(row.get("memorisation", 0.0)):
            notes.append("memorisation: n/a (the test clips are themselves training clips)")
        return row, notes


def compare(
    settings: CompareSettings,
    *,
    on_event: Callable[[Event], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CompareResult:
    """Train, score and hear every family of ``settings``; write ``compare.json`` under
    ``settings.out`` and return the rows (:func:`synth_core.report_html.write_report` then turns
    them into the HTML report; it reads this module's files, so this module does not call it).

    ``on_event`` receives plain dicts with an ``"event"`` key: ``family`` (a family's training
    starts), ``progress`` (``fraction`` and ``eta_s`` of the whole comparison), ``scoring``,
    ``row`` (a family's finished row), ``failed`` (a family diverged or ran out of memory: noted,
    and the others go on), ``done``. ``should_stop`` is polled between training steps: the
    family being trained stops, is not scored, and the report holds the rows so far.
    """
    from synth_core import checkpoint as ckpt
    from synth_core.clip_length import clip_length_for_family
    from synth_core.dataset import load_clips
    from synth_core.train import Budget, Callbacks, Progress, Trainer, subset
    from synth_core.train.learners import build_learner

    emit = on_event or (lambda event: None)
    stop = should_stop or (lambda: False)
    if not Path(settings.data).is_dir():
        raise DatasetError("the data to compare on must be a folder of sounds", path=settings.data)
    if settings.test is not None and not Path(settings.test).is_dir():
        raise DatasetError("--test must be a folder of sounds", path=settings.test)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    result = CompareResult(settings)
    count = len(settings.families)
    started = time.monotonic()
    scorer = Scorer(settings.seed)
    overheads: list[float] = []

    for index, family in enumerate(settings.families):
        phase_start = time.monotonic()
        minutes = family_minutes(settings, index, phase_start - started, overheads)
        emit(
            {
                "event": "family",
                "family": family,
                "index": index,
                "of": count,
                "minutes": None if minutes is None else round(minutes, 3),
            }
        )
        choice = clip_length_for_family(family, settings.data)
        preset = settings.presets.get(family)
        learner = build_learner(family, preset=preset, settings={"clip_seconds": choice.seconds})
        rate, seconds = int(learner.config.sample_rate), float(learner.config.clip_seconds)
        clips = load_clips(settings.data, sample_rate=rate, seconds=seconds)
        run_dir = out / "runs" / family

        def report_progress(progress: Progress, index: int = index, family: str = family) -> None:
            done_s = time.monotonic() - started
            overall = (index + progress.fraction) / count
            eta = None
            if progress.eta_s is not None:
                per_family = (done_s - progress.elapsed_s) / index if index else progress.elapsed_s
                eta = progress.eta_s + per_family * (count - index - 1)
            emit(
                {
                    "event": "progress",
                    "family": family,
                    "fraction": round(overall, 4),
                    "eta_s": None if eta is None else round(eta, 1),
                    "losses": {k: float(v) for k, v in progress.losses.items()},
                }
            )

        trainer = Trainer(
            learner,
            clips,
            Budget(steps=settings.steps, minutes=minutes),
            Callbacks(progress=report_progress, should_stop=stop),
            run_dir=run_dir,
            device=settings.device,
            seed=settings.seed,
            data_folder=str(Path(settings.data).resolve()),
            preview_every_s=0.0,
            log_every=1,
        )
        prepared = time.monotonic()
        try:
            trained = trainer.run()
        except (TrainingError, OutOfMemoryError) as error:
            # one family that diverges or does not fit must not cost the class the others
            result.notes.append(f"{family}: not compared: {error}")
            emit({"event": "failed", "family": family, "message": str(error)})
            continue
        if trained.stopped and stop():
            result.stopped = True
            result.notes.append(f"stopped while training {family}: it and the rest are not scored")
            break

        emit({"event": "scoring", "family": family})
        scoring = time.monotonic()
        model, changed = scoring_model(ckpt.read_model(run_dir), settings.scoring.get(family, {}))
        if settings.test is not None:
            test = load_clips(settings.test, sample_rate=rate, seconds=seconds)
        else:
            test = trainer.held_out
        if settings.test_clips is not None and len(test) > settings.test_clips:
            step = len(test) / settings.test_clips
            test = subset(test, [int(i * step) for i in range(settings.test_clips)])
        if len(test) < 2:
            raise DatasetError(
                f"scoring needs at least 2 test clips, the held-out split has {len(test)}; "
                "pass --test FOLDER",
                path=settings.data,
            )
        scores, score_notes = scorer.score(model, test, trainer.train_clips)
        hearing = time.monotonic()
        sounds, rtf = _timed_generate(model, STRIP_SOUNDS, settings.seed)
        row = {
            "family": family,
            "title": _title(family),
            "run": str(run_dir.relative_to(out)),
            "steps": trained.step,
            "train_seconds": round(trained.elapsed_s, 2),
            "clip_seconds": seconds,
            "one_nn": _finite(scores.get("one_nn")),
            "frechet": _finite(scores.get("frechet")),
            "memorisation": _finite(scores.get("memorisation")),
            "sc_db": _finite(scores.get("sc_db")),
            "pitch_cents": _finite(scores.get("pitch_cents")),
            "realtime_factor": round(rtf, 2),
            "model_bytes": _bytes_of(run_dir),
            "sounds": _write_strip(sounds, out / "sounds" / family, rate, family),
            "preset": preset,
            "scored_with": changed,
        }
        done = time.monotonic()
        overheads.append(done - phase_start - trained.elapsed_s)
        row["budget_minutes"] = None if minutes is None else round(minutes, 3)
        if minutes is not None and settings.minutes is not None and minutes < settings.minutes:
            result.notes.append(
                f"{family}: trained {minutes * 60:.0f} s, not {settings.minutes * 60:.0f} s, "
                f"to end within {settings.total_minutes:g} minutes in all"
            )
        row["timings"] = {
            "prepare_s": round(prepared - phase_start, 2),
            "train_wall_s": round(scoring - prepared, 2),
            "score_s": round(hearing - scoring, 2),
            "hear_s": round(done - hearing, 2),
        }
        result.rows.append(row)
        emit({"event": "row", "row": row})
        if not result.baseline:
            base = scorer.baseline(test, trainer.train_clips)
            baseline_audio = base["eigen"].sample(
                STRIP_SOUNDS, torch.Generator().manual_seed(settings.seed)
            )
            result.baseline = {
                "name": EIGEN_ROW,
                "one_nn": _finite(base["generation"].get("one_nn")),
                "frechet": _finite(base["generation"].get("frechet")),
                "sc_db": _finite(base["reconstruction"].get("sc_db")),
                "sounds": _write_strip(
                    baseline_audio, out / "sounds" / "eigen-sounds", rate, "eigen"
                ),
            }
            result.real = {
                "clips": len(test),
                "source": "test folder" if settings.test is not None else "held-out split",
                "sounds": _write_strip(test.audio, out / "sounds" / "real", rate, "real"),
            }
        result.notes.extend(f"{family}: {note}" for note in score_notes)
        if preset is not None:
            result.notes.append(f"{family}: trained with the {preset!r} preset")
        if changed:
            result.notes.append(f"{family}: scored with {'; '.join(changed)}")

    result.wall_seconds = round(time.monotonic() - started, 1)
    if settings.total_minutes is not None and result.wall_seconds > settings.total_minutes * 60:
        result.notes.append(
            f"took {result.wall_seconds / 60:.1f} minutes, more than the {settings.total_minutes:g} "
            "planned: preparing and scoring the families alone took longer on this machine"
        )
    (out / COMPARE_FILE).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    emit({"event": "done", "out": str(out), "stopped": result.stopped})
    return result


def _title(family: str) -> str:
    from synth_core.models import get_family

    return get_family(family).title


def parse_families(text: str) -> tuple[str, ...]:
    """``"vae,gmm"`` → ``("vae", "gmm")``; ``"all"`` → every built-in family."""
    from synth_core.models.base import FAMILY_NAMES

    if text.strip() == "all":
        return tuple(FAMILY_NAMES)
    return tuple(name.strip() for name in text.split(",") if name.strip())


def lesson_settings(out: str | Path, *, device: str | None = None) -> CompareSettings:
    """The built-in lesson: the starter data written to ``OUT/data``, all seven families, up to
    :data:`LESSON_MINUTES` each and :data:`LESSON_TOTAL_MINUTES` in all, scored on
    :data:`LESSON_TEST_CLIPS` clips of the starter test split, with the shorter settings of
    :data:`LESSON_PRESETS` and :data:`LESSON_SCORING` (the notes say which)."""
    from synth_core.builtin import write_starter_data
    from synth_core.models.base import FAMILY_NAMES

    out = Path(out)
    write_starter_data(out / "data")
    return CompareSettings(
        data=out / "data" / "train",
        test=out / "data" / "test",
        families=tuple(FAMILY_NAMES),
        minutes=LESSON_MINUTES,
        total_minutes=LESSON_TOTAL_MINUTES,
        test_clips=LESSON_TEST_CLIPS,
        presets=dict(LESSON_PRESETS),
        scoring={name: dict(values) for name, values in LESSON_SCORING.items()},
        out=out,
        device=device,
    )


def read_compare(out: str | Path) -> dict[str, Any]:
    """``OUT/compare.json`` as written by :func:`compare`.

    Raises
    ------
    DatasetError
        When the file is missing or not a comparison.
    """
    path = Path(out) / COMPARE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(
            "no compare.json here; run `timbrelab compare` first", path=path
        ) from None
    except (OSError, ValueError) as error:
        raise DatasetError(f"cannot read the comparison: {error}", path=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise DatasetError("not a comparison written by `timbrelab compare`", path=path)
    return data


def sound_paths(out: str | Path, relative: Sequence[str]) -> list[Path]:
    """The strip's files as paths under ``out``."""
    return [Path(out) / p for p in relative]
