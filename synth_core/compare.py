"""``timbrelab compare``: several families trained on the same folder with the same time budget,
then scored and heard side by side, for teaching what each family of models does.

Each family is trained by :class:`synth_core.train.Trainer` into ``OUT/runs/FAMILY`` (the runs
are ordinary run directories: ``generate`` and the app open them), one after another in this
process: training already uses every core, so parallel runs would only share them. Each trained
model is then scored by :func:`synth_core.evaluate.evaluate` against the test folder (or the
held-out split of the data), timed on one ``generate`` call (real-time factor) and heard in a
strip of generated sounds in ``OUT/sounds/FAMILY``. Beside the families stand the real test clips
and the eigen-sounds baseline (PCA-32 of the training log-magnitudes, from the same report).

``OUT/compare.json`` holds the rows (:data:`COMPARE_FILE`); ``OUT/report.html`` is written from it
by :mod:`synth_core.report_html`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
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
"""The lesson preset's budget per family: seven families in under ten minutes."""
LESSON_TEST_CLIPS = 16
"""Test clips the lesson scores on: scoring time grows with them (evaluate's Griffin-Lim
baselines), and 16 keep it to seconds a family while 1-NN still separates the families."""

Event = dict[str, Any]


@dataclass(frozen=True)
class CompareSettings:
    """What to compare: ``families`` trained on ``data`` for ``minutes`` and/or ``steps`` each,
    scored on ``test`` (None: the held-out split of ``data``), at most ``test_clips`` of them
    (evenly spaced; None: all), written under ``out``."""

    data: Path
    families: tuple[str, ...]
    out: Path
    minutes: float | None = None
    steps: int | None = None
    test: Path | None = None
    seed: int = 0
    device: str | None = None
    test_clips: int | None = None

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


@dataclass
class CompareResult:
    """The rows of one comparison, as ``compare.json`` stores them."""

    settings: CompareSettings
    rows: list[dict[str, Any]] = field(default_factory=list)
    baseline: dict[str, Any] = field(default_factory=dict)
    real: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stopped: bool = False

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "format_version": FORMAT_VERSION,
            "data": str(s.data),
            "test": None if s.test is None else str(s.test),
            "families": list(s.families),
            "minutes": s.minutes,
            "steps": s.steps,
            "rows": self.rows,
            "baseline": self.baseline,
            "real": self.real,
            "notes": self.notes,
            "stopped": self.stopped,
        }


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
    from synth_core.evaluate import EigenSounds, evaluate
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

    for index, family in enumerate(settings.families):
        emit({"event": "family", "family": family, "index": index, "of": count})
        choice = clip_length_for_family(family, settings.data)
        learner = build_learner(family, settings={"clip_seconds": choice.seconds})
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
            Budget(steps=settings.steps, minutes=settings.minutes),
            Callbacks(progress=report_progress, should_stop=stop),
            run_dir=run_dir,
            device=settings.device,
            seed=settings.seed,
            data_folder=str(Path(settings.data).resolve()),
            preview_every_s=0.0,
            log_every=1,
        )
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
        model = ckpt.read_model(run_dir)
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
        report = evaluate(model, test, trainer.train_clips, seed=settings.seed)
        sounds, rtf = _timed_generate(model, STRIP_SOUNDS, settings.seed)
        generation = report.generation["model"]
        reconstruction = report.reconstruction["model"]
        row = {
            "family": family,
            "title": _title(family),
            "run": str(run_dir.relative_to(out)),
            "steps": trained.step,
            "train_seconds": round(trained.elapsed_s, 2),
            "clip_seconds": seconds,
            "one_nn": _finite(generation.get("one_nn")),
            "frechet": _finite(generation.get("frechet")),
            "memorisation": _finite(generation.get("memorisation")),
            "sc_db": _finite(reconstruction.get("sc_db")),
            "pitch_cents": _finite(reconstruction.get("pitch_cents")),
            "realtime_factor": round(rtf, 2),
            "model_bytes": _bytes_of(run_dir),
            "sounds": _write_strip(sounds, out / "sounds" / family, rate, family),
        }
        result.rows.append(row)
        emit({"event": "row", "row": row})
        if not result.baseline:
            eigen = report.generation[EIGEN_ROW]
            baseline_audio = EigenSounds.fit(trainer.train_clips.audio).sample(
                STRIP_SOUNDS, torch.Generator().manual_seed(settings.seed)
            )
            result.baseline = {
                "name": EIGEN_ROW,
                "one_nn": _finite(eigen.get("one_nn")),
                "frechet": _finite(eigen.get("frechet")),
                "sc_db": _finite(report.reconstruction[EIGEN_ROW].get("sc_db")),
                "sounds": _write_strip(
                    baseline_audio, out / "sounds" / "eigen-sounds", rate, "eigen"
                ),
            }
            result.real = {
                "clips": len(test),
                "source": "test folder" if settings.test is not None else "held-out split",
                "sounds": _write_strip(test.audio, out / "sounds" / "real", rate, "real"),
            }
        result.notes.extend(f"{family}: {note}" for note in report.notes)

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
    """The built-in lesson: the starter data written to ``OUT/data``, all seven families,
    :data:`LESSON_MINUTES` each, scored on :data:`LESSON_TEST_CLIPS` clips of the starter test
    split."""
    from synth_core.builtin import write_starter_data
    from synth_core.models.base import FAMILY_NAMES

    out = Path(out)
    write_starter_data(out / "data")
    return CompareSettings(
        data=out / "data" / "train",
        test=out / "data" / "test",
        families=tuple(FAMILY_NAMES),
        minutes=LESSON_MINUTES,
        test_clips=LESSON_TEST_CLIPS,
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
