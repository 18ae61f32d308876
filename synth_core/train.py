"""Training: one loop for every learned family, with budgets, progress, checkpoints and a NaN guard.

``Trainer(learner, data, budget, callbacks).run()`` only calls the :class:`~synth_core.models.base.
LearnerBase` methods (``begin``, ``step``, ``state``/``load_state``, ``end``; see base.py), so it
knows nothing about which family it trains.

``timbrelab train DATA --family F --out RUN --progress jsonl`` prints one JSON object per line on
stdout; the app reads these from a child process. Every object has ``"event"``; the events are:

``{"event": "start", "run": str, "family": str, "device": str, "clips": int, "held_out": int,
"total": int | null, "resumed_from": int | null}``
    Once, after the data is loaded and before the first step. ``total`` is the step budget.
``{"event": "progress", "step": int, "total": int | null, "fraction": float, "elapsed_s": float,
"eta_s": float | null, "losses": {name: float}, "lr": float | null, "device": str}``
    After each of a session's first 10 steps, then at most every 0.25 s, and after the last
    step. ``fraction`` is 0–1 of the budget (steps or minutes, whichever ends first); ``eta_s``
    is null until it can be estimated.
``{"event": "preview", "step": int, "path": str, "sample_rate": int}``
    Every ``preview_every_s`` seconds: a WAV file (``RUN/preview.wav``, overwritten) of one sound
    from the model as it is now.
``{"event": "checkpoint", "step": int, "path": str}``
    After each checkpoint is written (every ``checkpoint_every_s`` seconds and at the end).
``{"event": "warning", "step": int, "message": str}``
    Something the user should know and training survived (a NaN loss rolled back, the LR halved).
``{"event": "done", "run": str, "step": int, "elapsed_s": float, "stopped": bool,
"metrics": {name: float}}``
    Last line of a run that finished or was stopped (SIGINT/SIGTERM stop after the current step
    and checkpoint first, ``stopped`` true).
``{"event": "error", "message": str}``
    Last line of a run that failed, the same one line ``timbrelab`` writes on stderr; the exit
    code is 1 when the machine failed (disk full, out of memory, a file the system would not
    write) and 2 for bad input. A full disk stops the run with "disk full while writing the
    checkpoint to RUN; the last good checkpoint (step N) is kept; …".

Without ``--progress jsonl`` a tqdm bar with ETA is drawn on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import logging
import math
import os
import signal
import sys
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from synth_core import checkpoint as ckpt
from synth_core.dataset import ClipSet
from synth_core.errors import (
    CheckpointError,
    DeviceError,
    DiskFullError,
    ModelConfigError,
    TimbreLabError,
    TrainingError,
    from_system_error,
)
from synth_core.models.base import Batch, TrainableModel

log = logging.getLogger(__name__)

PROGRESS_EVERY_STEP_UNTIL = 10

DEFAULT_MINUTES = 5.0
# Below this many training clips each batch is lightly augmented (gain, shift, pitch).
AUGMENT_BELOW_CLIPS = 256
MAX_NAN_RECOVERIES = 12


# Devices ---------------------------------------------------------------------------------------


def select_device(requested: str | None = None) -> torch.device:
    """The device to train on: ``requested``, else CUDA, then MPS, then CPU.

    Raises
    ------
    DeviceError
        When ``requested`` names a device that is not available here.
    """
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError:
            raise DeviceError(
                f"unknown device {requested!r}; use cpu, cuda, cuda:N or mps"
            ) from None
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise DeviceError(f"device {requested!r} asked for, but CUDA is not available")
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise DeviceError(
                    f"device {requested!r} asked for, but only {torch.cuda.device_count()} "
                    "CUDA device(s) exist"
                )
        elif device.type == "mps" and not torch.backends.mps.is_available():
            raise DeviceError(f"device {requested!r} asked for, but MPS is not available")
        elif device.type not in ("cpu", "cuda", "mps"):
            raise DeviceError(f"unsupported device {requested!r}; use cpu, cuda, cuda:N or mps")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _rehome_optimizers(learner: TrainableModel) -> None:
    """Put every optimiser's state on its parameters' device.

    A resumed run loads its optimiser state while the learner is still on the CPU; moving the
    learner to a GPU afterwards moves the parameters but not that state, and the next Adam step
    fails with "Expected all tensors to be on the same device" (found by ``bench/gpu_check.sh``
    on an H200). ``load_state_dict`` casts each state tensor to its parameter's device (Adam's
    step counters stay where torch wants them).
    """
    for value in vars(learner).values():
        if isinstance(value, torch.optim.Optimizer) and value.state:
            value.load_state_dict(value.state_dict())


def configure_threads(device: torch.device) -> int:
    """Use the CPU cores this process may run on (at most 8: small models gain nothing more)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    threads = max(1, min(cores, 8)) if device.type == "cpu" else max(1, min(cores, 4))
    torch.set_num_threads(threads)
    return threads


# Data ------------------------------------------------------------------------------------------


def subset(clips: ClipSet, indices: Tensor | list[int]) -> ClipSet:
    """The clips at ``indices``, as a ClipSet."""
    idx = torch.as_tensor(indices, dtype=torch.long)
    return replace(
        clips,
        audio=clips.audio[idx],
        pitch=clips.pitch[idx],
        paths=[clips.paths[i] for i in idx.tolist()],
    )


def split_held_out(clips: ClipSet, *, fraction: float = 0.1) -> tuple[ClipSet, ClipSet]:
    """Split off a held-out set chosen by a hash of each file name (stable across runs and machines).

    No clips are held out below 10; otherwise at least one.
    """
    n = len(clips)
    if n < 10 or fraction <= 0:
        return clips, subset(clips, [])
    # fsencode: a name that is not UTF-8 is hashed as the bytes it is on disk
    keys = [zlib.crc32(os.fsencode(Path(p).name)) / 2**32 for p in clips.paths]
    order = sorted(range(n), key=lambda i: (keys[i], str(clips.paths[i])))
    n_held = max(1, int(round(n * fraction)))
    held = sorted(order[:n_held])
    train = sorted(order[n_held:])
    return subset(clips, train), subset(clips, held)


def fingerprint(clips: ClipSet) -> str:
    """A short content hash of the training audio and labels (detects a changed folder)."""
    digest = hashlib.sha256()
    digest.update(str(clips.sample_rate).encode())
    digest.update(clips.audio.numpy().tobytes())
    digest.update(np.nan_to_num(clips.pitch.numpy(), nan=-1).tobytes())
    return digest.hexdigest()[:16]


def augment(
    audio: Tensor, pitch: Tensor | None, generator: torch.Generator
) -> tuple[Tensor, Tensor | None]:
    """Light augmentation for small folders: ±3 dB gain, up to 5 ms later onset, ±0.3 semitones.

    The pitch shift resamples by linear interpolation (a small ratio, so its aliasing is far below
    the material's own noise) and moves the pitch labels with it.
    """
    n, length = audio.shape
    gain = 10 ** (torch.empty(n, 1).uniform_(-3, 3, generator=generator) / 20)
    semitones = torch.empty(n).uniform_(-0.3, 0.3, generator=generator)
    ratio = 2 ** (semitones / 12)
    positions = torch.arange(length, dtype=torch.float32)[None, :] * ratio[:, None]
    lo = positions.floor().long().clamp(max=length - 1)
    hi = (lo + 1).clamp(max=length - 1)
    frac = positions - positions.floor()
    shifted = torch.gather(audio, 1, lo) * (1 - frac) + torch.gather(audio, 1, hi) * frac
    shifted = torch.where(positions < length, shifted, torch.zeros_like(shifted))
    # Onsets are aligned by dataset.py; a few ms of jitter keeps the model from over-fitting the
    # exact sample position of the attack.
    max_delay = 220
    delays = torch.randint(0, max_delay + 1, (n,), generator=generator)
    out = torch.zeros_like(audio)
    for i in range(n):
        d = int(delays[i])
        out[i, d:] = shifted[i, : length - d]
    out = out * gain
    if pitch is not None:
        pitch = pitch + semitones
    return out, pitch


# Progress --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """How long to train: ``steps`` (total, counting resumed ones) and/or ``minutes`` (total
    training time, counting resumed sessions); training ends at whichever comes first."""

    steps: int | None = None
    minutes: float | None = None

    def __post_init__(self) -> None:
        if self.steps is None and self.minutes is None:
            raise ModelConfigError("a training budget needs steps, minutes or both")
        if self.steps is not None and self.steps < 1:
            raise ModelConfigError(f"steps must be at least 1, got {self.steps}")
        if self.minutes is not None and not self.minutes > 0:
            raise ModelConfigError(f"minutes must be positive, got {self.minutes}")

    def fraction(self, step: int, elapsed_s: float) -> float:
        parts = []
        if self.steps is not None:
            parts.append(step / self.steps)
        if self.minutes is not None:
            parts.append(elapsed_s / (self.minutes * 60))
        return min(1.0, max(parts))

    def eta_s(
        self, step: int, elapsed_s: float, session_steps: int, session_s: float
    ) -> float | None:
        estimates = []
        if self.minutes is not None:
            estimates.append(max(0.0, self.minutes * 60 - elapsed_s))
        if self.steps is not None and session_steps > 0:
            estimates.append(max(0, self.steps - step) * session_s / session_steps)
        return min(estimates) if estimates else None


@dataclass(frozen=True)
class Progress:
    """One progress report. ``elapsed_s``/``eta_s`` in seconds; ``lr`` None when the learner has
    no optimiser (EM families)."""

    step: int
    total: int | None
    fraction: float
    elapsed_s: float
    eta_s: float | None
    losses: dict[str, float]
    lr: float | None
    device: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "total": self.total,
            "fraction": round(self.fraction, 5),
            "elapsed_s": round(self.elapsed_s, 3),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "losses": {k: float(v) for k, v in self.losses.items()},
            "lr": self.lr,
            "device": self.device,
        }


@dataclass(frozen=True)
class Preview:
    """Sound from the model during training: ``audio`` ``[n, samples]`` float32 at
    ``sample_rate`` Hz."""

    step: int
    audio: Tensor
    sample_rate: int


@dataclass
class Callbacks:
    """What a Trainer reports to. Every field is optional.

    progress(Progress); preview(Preview); checkpoint(step, run_dir); warning(step, message);
    step_done(step) after every good step (tests use it to interfere with a live run);
    should_stop() polled before every step.
    """

    progress: Callable[[Progress], None] | None = None
    preview: Callable[[Preview], None] | None = None
    checkpoint: Callable[[int, Path], None] | None = None
    warning: Callable[[int, str], None] | None = None
    step_done: Callable[[int], None] | None = None
    should_stop: Callable[[], bool] | None = None


@dataclass
class TrainResult:
    step: int
    elapsed_s: float
    stopped: bool
    metrics: dict[str, float] = field(default_factory=dict)


# The trainer -----------------------------------------------------------------------------------


def _all_finite(tensors: Mapping[str, Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point())


class Trainer:
    """Trains one learner on one ClipSet.

    Parameters
    ----------
    learner : TrainableModel
        A family model; the hooks it may override (``begin``, ``end``, ``validate``,
        ``optimizer``, ``optimizer_state``/``load_optimizer_state``) are in ``models/base.py``.
    data : ClipSet
        All clips; a held-out share is split off by :func:`split_held_out`.
    budget : Budget
        Steps and/or minutes.
    callbacks : Callbacks or None
        Progress, previews, checkpoints, warnings, stop polling.
    run_dir : str, Path or None, keyword-only
        Where checkpoints go; None trains in memory only.
    device : str or None, keyword-only
        ``cpu``, ``cuda``, ``mps``…; None picks the best (:func:`select_device`).
    batch_size : int or None, keyword-only
        Default: the learner config's ``batch_size``, else 16.
    checkpoint_every_s, preview_every_s : float, keyword-only
        Seconds between checkpoints and between previews (0 turns previews off).
    log_every : int, keyword-only
        Steps between ``history.jsonl`` lines.
    seed : int, keyword-only
        Seeds the data order, augmentation and torch's global RNG.
    augment_data : bool or None, keyword-only
        Augment batches; None means only when there are fewer than 256 training clips and the
        learner does not opt out with a false ``augments`` attribute.
    data_folder : str or None, keyword-only
        Recorded in ``model.json`` so ``evaluate`` can find the training data for its baselines.
    """

    def __init__(
        self,
        learner: TrainableModel,
        data: ClipSet,
        budget: Budget,
        callbacks: Callbacks | None = None,
        *,
        run_dir: str | Path | None = None,
        device: str | None = None,
        batch_size: int | None = None,
        checkpoint_every_s: float = 60.0,
        preview_every_s: float = 30.0,
        log_every: int = 10,
        seed: int = 0,
        augment_data: bool | None = None,
        data_folder: str | None = None,
    ) -> None:
        self.learner = learner
        self.budget = budget
        self.callbacks = callbacks or Callbacks()
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.device = select_device(device)
        self.threads = configure_threads(self.device)
        self.train_clips, self.held_out = split_held_out(data)
        self.batch_size = int(batch_size or learner.batch_size or 16)
        self.checkpoint_every_s = checkpoint_every_s
        self.preview_every_s = preview_every_s
        self.log_every = max(1, int(log_every))
        self.seed = int(seed)
        # a family may opt out (``augments = False``): the spectral ones learn exact partial
        # positions, which pitch-shifted copies blur
        wanted = bool(learner.augments)
        self.augment = (
            wanted and len(self.train_clips) < AUGMENT_BELOW_CLIPS
            if augment_data is None
            else augment_data
        )
        self.data_folder = data_folder
        self.fingerprint = fingerprint(data)
        self.n_clips = len(data)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.step = 0
        self.elapsed_s = 0.0
        self.nan_recoveries = 0
        self.metrics: dict[str, float] = {}
        self.resumed_from: int | None = None
        # the step of the checkpoint on disk, None until one is written (or resumed from)
        self.saved_step: int | None = None
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._order: Tensor = torch.empty(0, dtype=torch.long)
        self._cursor = 0
        self._snapshot: tuple[int, dict[str, Tensor], Any] | None = None
        self._began = False

    # control from other threads (the app's worker) ---------------------------------------------

    def stop(self) -> None:
        """Ask the run to stop after the current step (it still writes its final checkpoint)."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Hold before the next step until :meth:`resume`; paused time does not count."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # learning rate ---------------------------------------------------------------------------

    def _optimizer(self) -> torch.optim.Optimizer | None:
        optimizer = self.learner.optimizer
        return optimizer if isinstance(optimizer, torch.optim.Optimizer) else None

    @property
    def lr(self) -> float | None:
        optimizer = self._optimizer()
        return None if optimizer is None else float(optimizer.param_groups[0]["lr"])

    def _scale_lr(self, factor: float) -> None:
        optimizer = self._optimizer()
        if optimizer is not None:
            for group in optimizer.param_groups:
                group["lr"] = group["lr"] * factor

    # optimiser state ---------------------------------------------------------------------------

    def _optimizer_state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        own = self.learner.optimizer_state()
        if own is not None:
            return dict(own), {}
        optimizer = self._optimizer()
        if optimizer is None:
            return {}, {}
        return ckpt.flatten_optimizer_state(optimizer.state_dict())

    def _load_optimizer_state(self, tensors: Mapping[str, Tensor], rest: Mapping[str, Any]) -> None:
        if self.learner.load_optimizer_state(
            {k: v for k, v in tensors.items() if not k.startswith("trainer.")}
        ):
            return
        optimizer = self._optimizer()
        if optimizer is not None and rest.get("param_groups"):
            optimizer.load_state_dict(ckpt.unflatten_optimizer_state(tensors, rest))

    # resuming ----------------------------------------------------------------------------------

    def restore(self, run_dir: str | Path) -> int:
        """Continue the run saved in ``run_dir``: weights, optimiser, step, time and RNG state.

        The learner must be of the run's family and config. ``begin`` is not called again (what it
        computes is part of ``state()``). Returns the step resumed from.
        """
        run_dir = Path(run_dir)
        record = ckpt.read_record(run_dir)
        ckpt.remove_temp_files(run_dir)  # what a killed writer left; the run is ours now
        weights, weights_step = ckpt.read_weights(run_dir)
        self.learner.load_state(weights)
        step = record.step if weights_step is None else weights_step
        saved = ckpt.read_optimizer(run_dir)
        if saved is not None:
            tensors, optimizer_step = saved
            if optimizer_step is not None and optimizer_step != step:
                log.warning(
                    "%s: optimiser state is from step %s, weights from %s; resuming with the "
                    "weights and a fresh optimiser",
                    run_dir,
                    optimizer_step,
                    step,
                )
            else:
                self._load_optimizer_state(tensors, record.optimizer)
                ckpt.restore_rng_state(tensors, self.generator)
        if record.dataset.get("fingerprint") not in (None, self.fingerprint):
            self._warn(f"the data differs from what {run_dir} was trained on; continuing with it")
        self.step = step
        self.elapsed_s = float(record.trainer.get("elapsed_s", 0.0))
        self.nan_recoveries = int(record.trainer.get("nan_recoveries", 0))
        self._order = torch.as_tensor(record.trainer.get("order", []), dtype=torch.long)
        self._cursor = int(record.trainer.get("cursor", 0))
        self.resumed_from = step
        self.saved_step = step
        self._began = True
        ckpt.truncate_history(run_dir, up_to_step=step)
        return step

    # the loop ----------------------------------------------------------------------------------

    def _next_batch(self) -> Batch:
        n = len(self.train_clips)
        take = min(self.batch_size, n)
        if self._cursor + take > len(self._order):
            self._order = torch.randperm(n, generator=self.generator)
            self._cursor = 0
        idx = self._order[self._cursor : self._cursor + take]
        self._cursor += take
        audio = self.train_clips.audio[idx]
        pitch = self.train_clips.pitch[idx] if self.train_clips.has_pitch else None
        if self.augment:
            audio, pitch = augment(audio, pitch, self.generator)
        return Batch(audio=audio, pitch=pitch, index=idx.clone()).to(self.device)

    def _take_snapshot(self) -> None:
        state = {k: v.detach().clone() for k, v in self.learner.state().items()}
        if not _all_finite(state):
            return
        optimizer = self._optimizer_state()
        self._snapshot = (
            self.step,
            state,
            ({k: v.detach().clone() for k, v in optimizer[0].items()}, copy.deepcopy(optimizer[1])),
        )

    def _recover(self, losses: Mapping[str, float]) -> None:
        self.nan_recoveries += 1
        if self._snapshot is None or self.nan_recoveries > MAX_NAN_RECOVERIES:
            raise TrainingError(
                f"the loss stays non-finite ({dict(losses)}) after {self.nan_recoveries - 1} "
                "roll-backs with a halved learning rate; try a smaller learning_rate"
            )
        lr_before = self.lr
        step, state, (opt_tensors, opt_rest) = self._snapshot
        self.learner.load_state(state)
        self._load_optimizer_state(opt_tensors, opt_rest)
        if lr_before is not None:
            self._scale_lr(0.5 * lr_before / max(self.lr or lr_before, 1e-30))
        lost = self.step - step
        self.step = step
        message = f"non-finite loss {dict(losses)}; rolled back {lost} step(s) to step {step}" + (
            f" and halved the learning rate to {self.lr:.3g}" if self.lr is not None else ""
        )
        log.warning(message)
        self._warn(message)

    def _warn(self, message: str) -> None:
        if self.callbacks.warning is not None:
            self.callbacks.warning(self.step, message)

    def _done(self) -> bool:
        if self.budget.steps is not None and self.step >= self.budget.steps:
            return True
        return self.budget.minutes is not None and self.elapsed_s >= self.budget.minutes * 60

    def _record(self) -> ckpt.RunRecord:
        _, optimizer_rest = self._optimizer_state()
        return ckpt.RunRecord(
            family=self.learner.family,
            config=self.learner.config.to_dict(),
            sample_rate=int(self.learner.sample_rate),
            step=self.step,
            dataset={
                "fingerprint": self.fingerprint,
                "clips": self.n_clips,
                "held_out": len(self.held_out),
                "held_out_files": [Path(p).name for p in self.held_out.paths],
                "folder": self.data_folder,
            },
            metrics=self.metrics,
            trainer={
                "elapsed_s": self.elapsed_s,
                "nan_recoveries": self.nan_recoveries,
                "seed": self.seed,
                "lr": self.lr,
                "device": str(self.device),
                "order": self._order.tolist(),
                "cursor": self._cursor,
            },
            optimizer=optimizer_rest,
        )

    def save_checkpoint(self) -> None:
        """Write the run directory now (a no-op when training in memory).

        Raises
        ------
        DiskFullError
            The disk filled up; the message says which checkpoint is kept on disk.
        """
        if self.run_dir is None:
            return
        optimizer_tensors, _ = self._optimizer_state()
        tensors = dict(optimizer_tensors)
        tensors.update(ckpt.rng_state_tensors(self.generator))
        try:
            ckpt.write_checkpoint(self.run_dir, self._record(), self.learner.state(), tensors)
        except DiskFullError as error:
            raise self._disk_full(error, f"the checkpoint to {self.run_dir}") from error
        self.saved_step = self.step
        if self.callbacks.checkpoint is not None:
            self.callbacks.checkpoint(self.step, self.run_dir)

    def _disk_full(self, error: DiskFullError, what: str) -> DiskFullError:
        """``error`` reworded for a training run: what was being written, and what is kept."""
        if self.saved_step is None:
            kept = "no checkpoint was written yet; free some space, then train again"
        else:
            kept = (
                f"the last good checkpoint (step {self.saved_step}) is kept; free some space, "
                "then resume the run"
            )
        return DiskFullError(
            f"{error.reason} while writing {what}; {kept}", path=error.path, reason=error.reason
        )

    def _preview(self) -> None:
        if self.callbacks.preview is None:
            return
        was_training = self.learner.is_training
        self.learner.set_training(False)
        with torch.no_grad():
            audio = self.learner.generate(n=1, seed=0).detach().cpu()
        if was_training:
            self.learner.set_training(True)
        self.callbacks.preview(Preview(self.step, audio, int(self.learner.sample_rate)))

    def _validate(self) -> dict[str, float]:
        if len(self.held_out) == 0:
            return {}
        was_training = self.learner.is_training
        self.learner.set_training(False)
        totals: dict[str, float] = {}
        n = len(self.held_out)
        with torch.no_grad():
            for start in range(0, n, self.batch_size):
                idx = torch.arange(start, min(n, start + self.batch_size))
                pitch = self.held_out.pitch[idx] if self.train_clips.has_pitch else None
                batch = Batch(self.held_out.audio[idx], pitch, idx).to(self.device)
                for name, value in self.learner.validate(batch).items():
                    totals[name] = totals.get(name, 0.0) + float(value) * len(idx)
        if was_training:
            self.learner.set_training(True)
        return {f"held_out_{k}": v / n for k, v in totals.items()}

    def run(self) -> TrainResult:
        """Train until the budget is spent or a stop is asked for; returns where it ended."""
        if self.resumed_from is None:
            torch.manual_seed(self.seed)
        if not self._began:
            self.learner.begin(self.train_clips)
            self._began = True
        self.learner.move_to(self.device)
        _rehome_optimizers(self.learner)
        self.learner.set_training(True)
        self._take_snapshot()
        session_start_elapsed = self.elapsed_s
        session_start_step = self.step
        last_tick = time.monotonic()
        last_checkpoint = last_preview = last_progress = last_tick
        losses: dict[str, float] = {}
        stopped = False
        while not self._done():
            if self._stop.is_set() or (
                self.callbacks.should_stop is not None and self.callbacks.should_stop()
            ):
                stopped = True
                break
            if not self._running.is_set():
                self._running.wait(0.1)
                last_tick = time.monotonic()
                continue
            batch = self._next_batch()
            losses = {k: float(v) for k, v in self.learner.step(batch).items()}
            now = time.monotonic()
            self.elapsed_s += now - last_tick
            last_tick = now
            if not all(math.isfinite(v) for v in losses.values()):
                self._recover(losses)
                continue
            self.step += 1
            if self.callbacks.step_done is not None:
                self.callbacks.step_done(self.step)
            if self.step % self.log_every == 0 and self.run_dir is not None:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                entry = {"step": self.step, "elapsed_s": round(self.elapsed_s, 3), "lr": self.lr}
                try:
                    ckpt.append_history(self.run_dir, entry | losses)
                except DiskFullError as error:
                    raise self._disk_full(error, f"the training history to {error.path}") from error
            if self.step % 25 == 0:
                self._take_snapshot()
            # the first steps are all reported so a loss curve starts at once, even on a run
            # that finishes within a quarter of a second; after that at most 4 reports a second
            if self.step - session_start_step <= PROGRESS_EVERY_STEP_UNTIL or (
                now - last_progress >= 0.25
            ):
                self._report(losses, session_start_step, session_start_elapsed)
                last_progress = now
            if self.preview_every_s > 0 and now - last_preview >= self.preview_every_s:
                self._preview()
                last_preview = last_tick = time.monotonic()
            if now - last_checkpoint >= self.checkpoint_every_s:
                self._take_snapshot()
                self.save_checkpoint()
                last_checkpoint = last_tick = time.monotonic()
        self._report(losses, session_start_step, session_start_elapsed)
        self.learner.set_training(False)
        with torch.no_grad():
            self.learner.end(self.train_clips)
        self.metrics = self._validate() | {k: float(v) for k, v in losses.items()}
        self.save_checkpoint()
        return TrainResult(self.step, self.elapsed_s, stopped, dict(self.metrics))

    def _report(self, losses: dict[str, float], start_step: int, start_elapsed: float) -> None:
        if self.callbacks.progress is None:
            return
        self.callbacks.progress(
            Progress(
                step=self.step,
                total=self.budget.steps,
                fraction=self.budget.fraction(self.step, self.elapsed_s),
                elapsed_s=self.elapsed_s,
                eta_s=self.budget.eta_s(
                    self.step,
                    self.elapsed_s,
                    self.step - start_step,
                    self.elapsed_s - start_elapsed,
                ),
                losses=dict(losses),
                lr=self.lr,
                device=str(self.device),
            )
        )


# Building a learner ----------------------------------------------------------------------------


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``["latent_dim=16", "pitch_conditioning=false"]`` → ``{"latent_dim": 16, ...}``.

    Values are read as JSON where they parse (numbers, true/false, lists), else kept as strings.
    """
    settings: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise ModelConfigError(f"--set {pair!r}: expected NAME=VALUE")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        settings[name.strip()] = value
    return settings


def family_presets(model_class: type[TrainableModel]) -> dict[str, dict[str, Any]]:
    """The family's named presets (its class's ``PRESETS``)."""
    return dict(model_class.PRESETS)


def build_learner(
    family_name: str, *, preset: str | None = None, settings: Mapping[str, Any] | None = None
) -> TrainableModel:
    """A fresh model of ``family_name`` from its defaults, a preset, and overrides."""
    from synth_core.models import get_family

    family = get_family(family_name)
    model_class = family.model_class
    values: dict[str, Any] = {}
    if preset is not None:
        presets = family_presets(model_class)
        if preset not in presets:
            known = ", ".join(presets) or "none"
            raise ModelConfigError(
                f"family {family_name!r} has no preset {preset!r}; known: {known}"
            )
        values.update(presets[preset])
    values.update(settings or {})
    config = model_class.config_class.from_dict(values)
    return model_class.from_config(config)


# Command line ----------------------------------------------------------------------------------


class _JsonLines:
    """Progress as JSON lines on stdout, for the app's QProcess."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def emit(self, event: str, **fields: Any) -> None:
        sys.stdout.write(json.dumps({"event": event} | fields) + "\n")
        sys.stdout.flush()

    def callbacks(self, trainer_stop: Callable[[], bool]) -> Callbacks:
        def on_preview(preview: Preview) -> None:
            from synth_core import audio as audio_io

            path = self.run_dir / ckpt.PREVIEW_FILE
            self.run_dir.mkdir(parents=True, exist_ok=True)
            try:
                audio_io.save(preview.audio[0].numpy(), path, sample_rate=preview.sample_rate)
            except TimbreLabError as error:
                # a preview is a courtesy: training goes on, and a disk that is really full
                # stops the run at its next checkpoint, with the message that says what is kept
                self.emit("warning", step=preview.step, message=f"no preview this time: {error}")
                return
            self.emit("preview", step=preview.step, path=str(path), sample_rate=preview.sample_rate)

        return Callbacks(
            progress=lambda p: self.emit("progress", **p.to_dict()),
            preview=on_preview,
            checkpoint=lambda step, run: self.emit("checkpoint", step=step, path=str(run)),
            warning=lambda step, message: self.emit("warning", step=step, message=message),
            should_stop=trainer_stop,
        )


class _Bar:
    """A tqdm bar on stderr; warnings go through tqdm.write so they do not tear the bar."""

    def __init__(self, total: int | None, minutes: float | None) -> None:
        from tqdm import tqdm

        self.by_steps = total is not None
        self.bar = tqdm(
            total=total if self.by_steps else int((minutes or 0) * 60),
            unit="step" if self.by_steps else "s",
            dynamic_ncols=True,
            file=sys.stderr,
        )

    def callbacks(self, trainer_stop: Callable[[], bool]) -> Callbacks:
        from tqdm import tqdm

        def on_progress(p: Progress) -> None:
            self.bar.n = p.step if self.by_steps else int(p.elapsed_s)
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in list(p.losses.items())[:3]})
            self.bar.refresh()

        return Callbacks(
            progress=on_progress,
            warning=lambda step, message: tqdm.write(f"step {step}: {message}", file=sys.stderr),
            should_stop=trainer_stop,
        )

    def close(self) -> None:
        self.bar.close()


def cli_train(args: argparse.Namespace) -> int:
    """``timbrelab train DATA --family F --out RUN [...]``; see the module docstring for jsonl."""
    jsonl = _JsonLines(Path(args.out)) if args.progress == "jsonl" else None
    try:
        return _train(args, jsonl)
    except Exception as error:
        # a full disk or exhausted memory is told as one line, here and on stderr (cli.main)
        typed = from_system_error(error, path=args.out)
        if jsonl is not None:
            with contextlib.suppress(OSError):  # stdout may be what failed (the reader is gone)
                jsonl.emit("error", message=str(typed if typed is not None else error))
        if typed is not None and typed is not error:
            raise typed from error
        raise


def _train(args: argparse.Namespace, jsonl: _JsonLines | None) -> int:
    from synth_core.cli import output_folder_problem
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
        learner = build_learner(args.family, preset=args.preset, settings=parse_settings(args.set))
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
    bar = _Bar(budget.steps, budget.minutes) if args.progress == "bar" else None
    if jsonl is not None:
        callbacks = jsonl.callbacks(stop_requested.is_set)
    elif bar is not None:
        callbacks = bar.callbacks(stop_requested.is_set)
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
            preview_every_s=30.0 if jsonl is not None else 0.0,
            checkpoint_every_s=args.checkpoint_every,
        )
        if args.resume:
            trainer.restore(run_dir)
        if jsonl is not None:
            jsonl.emit(
                "start",
                run=str(run_dir),
                family=learner.family,
                device=str(trainer.device),
                clips=len(trainer.train_clips),
                held_out=len(trainer.held_out),
                total=budget.steps,
                resumed_from=trainer.resumed_from,
            )
        result = trainer.run()
    finally:
        if bar is not None:
            bar.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if jsonl is not None:
        jsonl.emit(
            "done",
            run=str(run_dir),
            step=result.step,
            elapsed_s=round(result.elapsed_s, 3),
            stopped=result.stopped,
            metrics=result.metrics,
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
