"""``timbrelab train DATA --family F --out RUN``: train a model, showing progress on the terminal
or, with ``--progress jsonl``, as the JSON-lines events of :mod:`synth_core.progress` on stdout
(what the app's training panel reads from its child process).

The training itself is :class:`synth_core.train.Trainer`; this module loads the data, builds or
resumes the learner, turns SIGINT/SIGTERM into a stop after the current step (the final
checkpoint is still written) and reports. Without ``--progress jsonl`` a bar with ETA is drawn on
stderr and one summary line is written when the run ends.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from synth_core import checkpoint as ckpt
from synth_core import distributed
from synth_core.cli import output_folder_problem
from synth_core.clip_length import clip_length_for_family
from synth_core.commands.progress_bar import TerminalProgressBar
from synth_core.errors import CheckpointError, ModelConfigError, TimbreLabError, from_system_error
from synth_core.progress import (
    CheckpointEvent,
    DoneEvent,
    ErrorEvent,
    Event,
    PreviewEvent,
    ProgressEvent,
    StartEvent,
    WarningEvent,
    encode,
)
from synth_core.train import Budget, Callbacks, Preview, Progress, Trainer
from synth_core.train.learners import build_learner, parse_settings

log = logging.getLogger(__name__)

DEFAULT_MINUTES = 5.0
"""The time budget when neither ``--steps`` nor ``--max-minutes`` is given."""
PREVIEW_EVERY_S = 30.0
"""Seconds between preview sounds in JSON-lines mode (the terminal has no use for them)."""


class JsonLinesReporter:
    """Writes a run's events on stdout, one JSON object a line, for the app's QProcess."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def emit(self, event: Event) -> None:
        sys.stdout.write(encode(event) + "\n")
        sys.stdout.flush()

    def on_progress(self, progress: Progress) -> None:
        self.emit(
            ProgressEvent(
                step=progress.step,
                total=progress.total,
                fraction=round(progress.fraction, 5),
                elapsed_s=round(progress.elapsed_s, 3),
                eta_s=None if progress.eta_s is None else round(progress.eta_s, 1),
                losses={name: float(value) for name, value in progress.losses.items()},
                lr=progress.lr,
                device=progress.device,
            )
        )

    def on_preview(self, preview: Preview) -> None:
        from synth_core import audio as audio_io

        path = self.run_dir / ckpt.PREVIEW_FILE
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            audio_io.save(preview.audio[0].numpy(), path, sample_rate=preview.sample_rate)
        except TimbreLabError as error:
            # a preview is a courtesy: training goes on, and a disk that is really full stops
            # the run at its next checkpoint, with the message that says what is kept
            self.on_warning(preview.step, f"no preview this time: {error}")
            return
        self.emit(PreviewEvent(step=preview.step, path=str(path), sample_rate=preview.sample_rate))

    def on_checkpoint(self, step: int, run_dir: Path) -> None:
        self.emit(CheckpointEvent(step=step, path=str(run_dir)))

    def on_warning(self, step: int, message: str) -> None:
        self.emit(WarningEvent(step=step, message=message))

    def callbacks(self, should_stop: Callable[[], bool]) -> Callbacks:
        return Callbacks(
            progress=self.on_progress,
            preview=self.on_preview,
            checkpoint=self.on_checkpoint,
            warning=self.on_warning,
            should_stop=should_stop,
        )


def child_argv(args: argparse.Namespace) -> list[str]:
    """The ``train …`` arguments of ``args`` without ``--nproc``: what each of the processes
    that ``--nproc N`` starts runs."""
    argv = ["-v"] if getattr(args, "verbose", False) else []
    argv += ["train", str(args.data), "--family", args.family, "--out", str(args.out)]
    if args.steps is not None:
        argv += ["--steps", str(args.steps)]
    if args.max_minutes is not None:
        argv += ["--max-minutes", repr(float(args.max_minutes))]
    if args.resume:
        argv.append("--resume")
    if args.device:
        argv += ["--device", args.device]
    argv += ["--progress", args.progress]
    if args.preset:
        argv += ["--preset", args.preset]
    for pair in args.set:
        argv += ["--set", pair]
    argv += ["--seed", str(args.seed), "--checkpoint-every", repr(float(args.checkpoint_every))]
    return argv


def cli_train(args: argparse.Namespace) -> int:
    """``timbrelab train DATA --family F --out RUN [...]``."""
    jsonl = JsonLinesReporter(Path(args.out)) if args.progress == "jsonl" else None
    try:
        nproc = int(getattr(args, "nproc", 1) or 1)
        if nproc > 1 and not distributed.launched():
            distributed.check_family(args.family)
            # torchrun's launcher starts the processes; each is this command without --nproc
            # and finds its rank in the environment (synth_core.distributed.init)
            distributed.launch(nproc, child_argv(args))
            return 0
        if distributed.launched():
            args.device = distributed.init(args.device)
            if not distributed.is_main():
                jsonl = None
        try:
            return _train(args, jsonl)
        finally:
            distributed.shutdown()
    except Exception as error:
        # a full disk or exhausted memory is told as one line, here and on stderr (cli.main)
        typed = from_system_error(error, path=args.out)
        if jsonl is not None:
            with contextlib.suppress(OSError):  # stdout may be what failed (the reader is gone)
                jsonl.emit(ErrorEvent(message=str(typed if typed is not None else error)))
        if typed is not None and typed is not error:
            raise typed from error
        raise


def _train(args: argparse.Namespace, jsonl: JsonLinesReporter | None) -> int:
    from synth_core.dataset import load_clips_reporting, skipped_line

    run_dir = Path(args.out)
    problem = output_folder_problem(run_dir)
    if problem is not None:
        # checked before the data is loaded, so a typo costs no loading time
        raise CheckpointError(f"{problem}; choose another --out", path=run_dir)
    if args.resume:
        record = ckpt.read_record(run_dir)
        if args.family != record.family:
            raise CheckpointError(
                f"holds a {record.family!r} run; --family {args.family!r} cannot resume it",
                path=run_dir,
            )
        if args.preset or args.set:
            raise ModelConfigError("--preset and --set cannot change a run being resumed")
        learner = build_learner(record.family, settings=record.config)
    else:
        if (run_dir / ckpt.MODEL_FILE).exists():
            raise CheckpointError(
                "already holds a run; pass --resume to continue it or choose another --out",
                path=run_dir,
            )
        settings = parse_settings(args.set)
        if "clip_seconds" not in settings:  # the folder's sounds set the length (issue 18)
            choice = clip_length_for_family(args.family, args.data)
            settings["clip_seconds"] = choice.seconds
            if jsonl is None and distributed.is_main():
                sys.stderr.write(choice.describe() + "\n")
        # the starting weights follow --seed as well, so a run can be repeated (and N processes
        # start where one would: rank 0's weights are given to the others in any case)
        import torch

        torch.manual_seed(args.seed)
        learner = build_learner(args.family, preset=args.preset, settings=settings)
    config = learner.config
    clips = load_clips_reporting(
        args.data,
        lambda item: log.warning("%s", skipped_line(item)),
        sample_rate=config.sample_rate,
        seconds=config.clip_seconds,
    )
    minutes = args.max_minutes
    if args.steps is None and minutes is None:
        minutes = DEFAULT_MINUTES
    budget = Budget(steps=args.steps, minutes=minutes)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    bar = None
    if jsonl is not None:
        callbacks = jsonl.callbacks(stop_requested.is_set)
    elif not distributed.is_main():  # rank 0 reports for every process
        callbacks = Callbacks(should_stop=stop_requested.is_set)
    elif args.progress == "bar":
        bar = TerminalProgressBar(
            steps=budget.steps,
            seconds=None if budget.steps is not None else (budget.minutes or 0) * 60,
        )
        callbacks = Callbacks(
            progress=bar.update, warning=bar.warn, should_stop=stop_requested.is_set
        )
    else:
        callbacks = Callbacks(should_stop=stop_requested.is_set)
    try:
        trainer = Trainer(
            learner,
            clips,
            budget,
            callbacks,
            run_dir=run_dir,
            device=args.device,
            seed=args.seed,
            data_folder=str(Path(args.data).resolve()),
            preview_every_s=PREVIEW_EVERY_S if jsonl is not None else 0.0,
            checkpoint_every_s=args.checkpoint_every,
        )
        if args.resume:
            trainer.restore(run_dir)
        if jsonl is not None:
            jsonl.emit(
                StartEvent(
                    run=str(run_dir),
                    family=learner.family,
                    device=str(trainer.device),
                    clips=len(trainer.train_clips),
                    held_out=len(trainer.held_out),
                    total=budget.steps,
                    resumed_from=trainer.resumed_from,
                    clip_seconds=float(config.clip_seconds),
                )
            )
        result = trainer.run()
    finally:
        if bar is not None:
            bar.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not distributed.is_main():
        return 0
    if jsonl is not None:
        jsonl.emit(
            DoneEvent(
                run=str(run_dir),
                step=result.step,
                elapsed_s=round(result.elapsed_s, 3),
                stopped=result.stopped,
                metrics=dict(result.metrics),
            )
        )
    else:
        summary = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items())
        sys.stderr.write(
            f"{'stopped' if result.stopped else 'trained'} {learner.family} for {result.step} steps "
            f"({result.elapsed_s / 60:.1f} min) → {run_dir}"
            + (f"; {summary}" if summary else "")
            + "\n"
        )
    return 0
