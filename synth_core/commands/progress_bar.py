"""The terminal progress bar every command that trains draws on stderr.

``timbrelab train``, ``timbrelab demo`` and the starter-model build all feed the trainer's
progress reports to one :class:`TerminalProgressBar`, so they count the same way: steps when the
budget is a number of steps, whole seconds when it is a time. The library never draws it; it
reports through callbacks and the command plugs this bar in.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from types import TracebackType

#: Losses shown after the bar: the first few the learner reports (more would wrap the line).
SHOWN_LOSSES = 3


class ProgressReport(Protocol):
    """What the bar reads from a trainer progress report (``synth_core.train.Progress``)."""

    step: int
    elapsed_s: float
    losses: Mapping[str, float]


class TerminalProgressBar:
    """A tqdm bar on stderr that follows the trainer's progress reports.

    Parameters
    ----------
    label : str
        Shown before the bar (the family or the starter model's name); empty for none.
    steps : int, optional
        The step budget: the bar counts steps up to it.
    seconds : float, optional
        The time budget, s, when there is no step budget: the bar counts whole seconds.

    Use :meth:`update` as the ``progress`` callback and :meth:`warn` as the ``warning``
    callback (it prints above the bar without tearing it); :meth:`close` when training ends,
    or use the bar as a context manager.
    """

    def __init__(self, label: str = "", *, steps: int | None = None, seconds: float | None = None):
        from tqdm import tqdm

        self.by_steps = steps is not None
        total = steps if steps is not None else round(seconds or 0)
        # a time budget counts seconds; tqdm's rate ("s/s") would only confuse
        fmt = None if self.by_steps else "{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}{postfix}]"
        self._tqdm = tqdm
        self.bar = tqdm(
            total=total,
            desc=label or None,
            unit="step" if self.by_steps else "s",
            bar_format=fmt,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def update(self, progress: ProgressReport) -> None:
        """Move to ``progress.step`` (or ``progress.elapsed_s``) and show the first losses."""
        if self.by_steps:
            self.bar.n = int(progress.step)
        else:
            self.bar.n = min(round(progress.elapsed_s), self.bar.total)
        losses = list(progress.losses.items())[:SHOWN_LOSSES]
        if losses:
            self.bar.set_postfix({name: f"{value:.4g}" for name, value in losses}, refresh=False)
        self.bar.refresh()

    def warn(self, step: int, message: str) -> None:
        """Print a trainer warning above the bar: ``step 120: message``."""
        self._tqdm.write(f"step {step}: {message}", file=sys.stderr)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> TerminalProgressBar:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
