"""How long a run trains (:class:`Budget`) and what the trainer reports while it does
(:class:`Progress`, :class:`Preview`, through :class:`Callbacks`), and where it ended
(:class:`TrainResult`).

These are plain values: the command line turns them into a terminal bar or JSON-lines events
(``synth_core.commands.train``, ``synth_core.progress``), the app's worker into widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

from synth_core.errors import ModelConfigError


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
