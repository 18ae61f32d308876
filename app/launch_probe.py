"""Launch figures for ``timbrelab bench --family app``, reported by the app itself.

When the environment variable :data:`LAUNCH_PROBE_ENV` (``TIMBRELAB_BENCH_LAUNCH``) names a file,
:func:`app.main.main` attaches a :class:`LaunchProbe` to the main window. The probe notes the
wall-clock time of the first frame the window paints (and whether torch was imported by then),
the time the first generated sound of the starter model is ready, and the resident memory once
the app has settled after that sound; it writes them to that file as JSON and quits the app.
Only the bench (:mod:`synth_core.benchmarks.app_launch`) sets the variable; without it nothing
here runs. Times are ``time.time()`` seconds, so the bench can subtract the moment it started
the process.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

LAUNCH_PROBE_ENV = "TIMBRELAB_BENCH_LAUNCH"
SETTLE_S = 2.0
"""How long the app idles after its first sound before its memory is read."""
GIVE_UP_S = 300.0
"""The probe writes what it has and quits if no sound came this long after the window showed."""


def probe_path() -> Path | None:
    """The report file the bench asked for, or ``None`` (a normal launch)."""
    value = os.environ.get(LAUNCH_PROBE_ENV, "").strip()
    return Path(value) if value else None


def resident_mib() -> float:
    """This process's resident memory now, MiB (``/proc/self/status``; elsewhere the peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class LaunchProbe(QObject):
    """Watches ``window`` from its first paint to its first sound, then reports and quits.

    Parameters
    ----------
    window : QWidget
        The main window (an :class:`app.main_window.MainWindow`, whose ``studio`` attribute is
        set once the model families are imported).
    path : Path
        Where the JSON report goes.
    """

    def __init__(self, window: QWidget, path: Path) -> None:
        super().__init__(window)
        self.window = window
        self.path = path
        self.report: dict[str, object] = {"pid": os.getpid()}
        self._painting = False
        self._hooked = False
        self._done = False
        QApplication.instance().installEventFilter(self)
        self._poll = QTimer(self)
        self._poll.timeout.connect(self._hook_studio)
        self._poll.start(10)
        QTimer.singleShot(int(GIVE_UP_S * 1000), lambda: self._finish("no sound in time"))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if (
            not self._painting
            and event.type() == QEvent.Type.Paint
            and isinstance(watched, QWidget)
            and watched.window() is self.window
        ):
            self._painting = True
            self.report["torch_imported_at_first_paint"] = "torch" in sys.modules
            # the frame is on screen once every widget of it has painted: the next loop turn
            QTimer.singleShot(0, self._painted)
        return False

    def _painted(self) -> None:
        self.report["first_paint"] = time.time()
        self.report["rss_at_first_paint_mib"] = resident_mib()
        QApplication.instance().removeEventFilter(self)

    def _hook_studio(self) -> None:
        studio = getattr(self.window, "studio", None)
        if studio is None or self._hooked:
            return
        self._hooked = True
        self._poll.stop()
        self.report["studio_ready"] = time.time()
        studio.explore.soundGenerated.connect(self._sound)

    def _sound(self, *_: object) -> None:
        if "first_sound" in self.report:
            return
        self.report["first_sound"] = time.time()
        QTimer.singleShot(int(SETTLE_S * 1000), self._finish)

    def _finish(self, problem: str = "") -> None:
        if self._done:
            return
        self._done = True
        self.report["idle_rss_mib"] = resident_mib()
        self.report["settle_s"] = SETTLE_S
        if problem:
            self.report["problem"] = problem
        self.path.write_text(json.dumps(self.report, indent=2), encoding="utf-8")
        self.window.close()
        QApplication.instance().quit()
