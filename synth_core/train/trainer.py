"""The training loop: one for every learned family, with budgets, progress, checkpoints and a NaN
guard.

``Trainer(learner, data, budget, callbacks).run()`` only calls the :class:`~synth_core.models.base.
LearnerBase` methods (``begin``, ``step``, ``state``/``load_state``, ``end``; see base.py), so it
knows nothing about which family it trains. It reports through :class:`~synth_core.train.budget.
Callbacks` and never prints.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from synth_core import checkpoint as ckpt
from synth_core import distributed
from synth_core.dataset import ClipSet
from synth_core.errors import DiskFullError, TrainingError
from synth_core.models.base import Batch, TrainableModel
from synth_core.train.budget import Budget, Callbacks, Preview, Progress, TrainResult
from synth_core.train.data import AUGMENT_BELOW_CLIPS, augment, fingerprint, split_held_out
from synth_core.train.device import configure_threads, select_device
from synth_core.train.optimizer import LearnerOptimizer, rehome_optimizers

log = logging.getLogger(__name__)

# Every step of a session's first this many is reported, so a loss curve starts at once.
PROGRESS_EVERY_STEP_UNTIL = 10
MAX_NAN_RECOVERIES = 12


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
        self.optim = LearnerOptimizer(learner)
        self.budget = budget
        self.callbacks = callbacks or Callbacks()
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.device = select_device(device)
        # several processes (``--nproc``): each takes its share of every batch, gradients and
        # EM statistics are summed over them (synth_core.distributed), only rank 0 writes
        self.world = distributed.world_size()
        self.rank = distributed.rank()
        self.threads = configure_threads(self.device, distributed.local_world_size())
        self.train_clips, self.held_out = split_held_out(data)
        self.batch_size = int(batch_size or learner.batch_size or 16)
        distributed.check_batch(min(self.batch_size, len(self.train_clips)), learner.family)
        self._share = 1.0  # this process's part of the current global batch
        self._gradient_sync: distributed.GradientSync | None = None
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

    @property
    def lr(self) -> float | None:
        """The learning rate now (halved by each NaN roll-back); None without an optimiser."""
        return self.optim.lr

    # resuming ----------------------------------------------------------------------------------

    def restore(self, run_dir: str | Path) -> int:
        """Continue the run saved in ``run_dir``: weights, optimiser, step, time and RNG state.

        The learner must be of the run's family and config. ``begin`` is not called again (what it
        computes is part of ``state()``). Returns the step resumed from.
        """
        run_dir = Path(run_dir)
        record = ckpt.read_record(run_dir)
        if distributed.is_main():
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
                self.optim.load_state(tensors, record.optimizer)
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
        if distributed.is_main():
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
        if self.world > 1:
            # every process draws the same global batch (same generator), then keeps its share:
            # the data order and augmentation match one process's, whatever the process count
            part = distributed.shard(len(idx))
            self._share = (part.stop - part.start) / len(idx)
            audio, idx = audio[part], idx[part]
            pitch = pitch[part] if pitch is not None else None
        return Batch(audio=audio, pitch=pitch, index=idx.clone()).to(self.device)

    def _take_snapshot(self) -> None:
        state = {k: v.detach().clone() for k, v in self.learner.state().items()}
        if not _all_finite(state):
            return
        optimizer = self.optim.state()
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
        self.optim.load_state(opt_tensors, opt_rest)
        if lr_before is not None:
            self.optim.scale_lr(0.5 * lr_before / max(self.lr or lr_before, 1e-30))
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
        _, optimizer_rest = self.optim.state()
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
        if not distributed.is_main():  # every process holds the same model; rank 0 writes it
            self.saved_step = self.step
            return
        optimizer_tensors, _ = self.optim.state()
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
        if self.callbacks.preview is None or not distributed.is_main():
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
        rehome_optimizers(self.learner)
        if self.world > 1:
            self._join_processes()
        self.learner.set_training(True)
        self._take_snapshot()
        session_start_elapsed = self.elapsed_s
        session_start_step = self.step
        last_tick = time.monotonic()
        last_checkpoint = last_preview = last_progress = last_tick
        losses: dict[str, float] = {}
        stopped = False
        while True:
            done = self._done()
            stop = self._stop.is_set() or (
                self.callbacks.should_stop is not None and self.callbacks.should_stop()
            )
            if self.world > 1:  # the processes stop together, at the same step
                done, stop = self._agree(done, stop)
            if done:
                break
            if stop:
                stopped = True
                break
            if not self._running.is_set():
                self._running.wait(0.1)
                last_tick = time.monotonic()
                continue
            batch = self._next_batch()
            losses = {k: float(v) for k, v in self.learner.step(batch).items()}
            if self.world > 1:
                losses = self._global_losses(losses)
            now = time.monotonic()
            self.elapsed_s += now - last_tick
            last_tick = now
            if not all(math.isfinite(v) for v in losses.values()):
                self._recover(losses)
                continue
            self.step += 1
            if self.callbacks.step_done is not None:
                self.callbacks.step_done(self.step)
            if (
                self.step % self.log_every == 0
                and self.run_dir is not None
                and distributed.is_main()
            ):
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
        if self._gradient_sync is not None:
            self._gradient_sync.remove()
            self._gradient_sync = None
        return TrainResult(self.step, self.elapsed_s, stopped, dict(self.metrics))

    # several processes -------------------------------------------------------------------------

    @property
    def comm_s(self) -> float:
        """Seconds this process has waited in gradient reductions (0 in one process)."""
        return 0.0 if self._gradient_sync is None else self._gradient_sync.comm_s

    def _join_processes(self) -> None:
        """Start every process from rank 0's weights, sum gradients over them, and give each
        its own noise (the reparameterisation, input noise) from here on."""
        if isinstance(self.learner, torch.nn.Module):
            distributed.broadcast_module(self.learner)
            if self._gradient_sync is None:
                self._gradient_sync = distributed.GradientSync(
                    self.learner.averaged_modules(), share=lambda: self._share
                )
        if self.rank > 0:
            torch.manual_seed(self.seed + 7919 * self.rank)

    def _agree(self, done: bool, stop: bool) -> tuple[bool, bool]:
        """Whether any process's budget is spent or was asked to stop."""
        flags = torch.tensor([float(done), float(stop)])
        distributed.all_reduce_max(flags)
        return bool(flags[0]), bool(flags[1])

    def _global_losses(self, losses: dict[str, float]) -> dict[str, float]:
        """The whole batch's loss terms: each process's weighted by its share, summed."""
        values = torch.tensor([v * self._share for v in losses.values()], dtype=torch.float64)
        distributed.all_reduce_sum(values)
        return dict(zip(losses, values.tolist(), strict=True))

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
