"""Start the desktop app: check for a display, build the ``QApplication`` and the main window.

``timbrelab`` with no command and ``python -m app`` both end up in :func:`main`. Without a
display Qt would abort the process with a message about platform plugins; :func:`main` says what
is wrong in one line and returns 2 instead. Unhandled exceptions, on any thread, are shown in a
dialog (with the traceback folded away and written to a file) rather than killing the window.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

_START = time.monotonic()

log = logging.getLogger(__name__)

NO_DISPLAY_MESSAGE = (
    "timbrelab: no display found (DISPLAY and WAYLAND_DISPLAY are not set); run it on a desktop, "
    "or with a virtual one: `xvfb-run timbrelab` (or set QT_QPA_PLATFORM=offscreen for no window)"
)


def has_display(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """True when Qt can open windows (or was told which platform plugin to use).

    Parameters
    ----------
    environ : mapping or None
        Environment to look at; ``None`` means ``os.environ``.
    platform : str or None
        ``sys.platform`` value; ``None`` means this machine's. macOS and Windows always have one.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux") and not platform.startswith("freebsd"):
        return True
    plugin = environ.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0]
    if plugin.startswith("xcb"):
        return bool(environ.get("DISPLAY"))
    if plugin.startswith("wayland"):
        return bool(environ.get("WAYLAND_DISPLAY"))
    if plugin:  # offscreen, minimal, vnc, eglfs…: no display server needed
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``python -m app``."""
    parser = argparse.ArgumentParser(prog="timbrelab", description="Timbre Lab desktop app.")
    parser.add_argument("folder", nargs="?", default=None, help="folder of sounds to open")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    return parser


def crash_log_path() -> Path:
    """Where the last unhandled error's traceback is written."""
    from synth_core.paths import cache_dir

    return cache_dir() / "last-crash.txt"


class CrashReporter:
    """Shows unhandled exceptions in a dialog instead of a traceback in a terminal.

    Installed as ``sys.excepthook`` and ``threading.excepthook``. An error on a worker thread is
    passed to the GUI thread through a queued signal; while one dialog is open, further errors
    are only logged, so a repeating error cannot stack up dialogs.
    """

    def __init__(self) -> None:
        from PySide6.QtCore import QObject, Signal

        class _Bridge(QObject):
            report = Signal(str, str)

        self._bridge = _Bridge()
        self._bridge.report.connect(self._show)
        self._showing = False

    def install(self) -> None:
        """Become the process's hook for unhandled exceptions."""
        sys.excepthook = self.excepthook
        threading.excepthook = lambda args: self.excepthook(
            args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback
        )

    def excepthook(
        self,
        exc_type: type[BaseException],
        error: BaseException,
        tb: TracebackType | None,
    ) -> None:
        """Log ``error``, save its traceback, and show it in a dialog on the GUI thread."""
        from synth_core.errors import TimbreLabError

        if issubclass(exc_type, KeyboardInterrupt):
            from PySide6.QtWidgets import QApplication

            QApplication.quit()
            return
        details = "".join(traceback.format_exception(exc_type, error, tb))
        log.error("unhandled error:\n%s", details)
        if isinstance(error, TimbreLabError):
            self._bridge.report.emit(str(error), "")
            return
        try:
            path = crash_log_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(details, encoding="utf-8")
            saved = f"\n\nThe details were saved to {path}."
        except OSError:
            saved = ""
        self._bridge.report.emit(
            f"Something went wrong: {exc_type.__name__}: {error}{saved}\n\n"
            "Timbre Lab keeps running, but the last action may not have finished.",
            details,
        )

    def _show(self, message: str, details: str) -> None:
        from PySide6.QtWidgets import QApplication, QMessageBox

        if self._showing:
            return
        self._showing = True
        try:
            box = QMessageBox(QApplication.activeWindow())
            box.setIcon(QMessageBox.Icon.Critical)
            box.setWindowTitle("Timbre Lab")
            box.setText(message)
            if details:
                box.setDetailedText(details)
            box.exec()
        finally:
            self._showing = False


def create_application(argv: Sequence[str] | None = None) -> object:
    """The ``QApplication`` with Timbre Lab's names, theme and plot defaults.

    Returns the existing instance when there is one (tests).
    """
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from app.gc_thread import collect_on_gui_thread
    from app.style import apply_theme
    from synth_core import __version__

    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else [sys.argv[0]])
    app.setApplicationName("Timbre Lab")
    app.setOrganizationName("timbrelab")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("io.github.timbrelab.TimbreLab")
    pg.setConfigOptions(antialias=False, useNumba=False, background="#17181b")
    apply_theme(app)
    collect_on_gui_thread(app)  # Qt objects must never be freed by a worker's collection
    return app


def _let_python_see_signals(app: object) -> Callable[[], None]:
    """Make Ctrl+C in the terminal quit the app (Qt's loop otherwise never yields to Python)."""
    from PySide6.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: app.quit())
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(250)
    return timer.stop


def main(argv: Sequence[str] | None = None) -> int:
    """Run the desktop app until its window is closed.

    Parameters
    ----------
    argv : sequence of str or None
        Arguments after the program name; ``None`` means ``sys.argv[1:]``.

    Returns
    -------
    int
        0 after a normal quit, 2 when there is no display (one line on stderr says so).
    """
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
    if not has_display():
        sys.stderr.write(NO_DISPLAY_MESSAGE + "\n")
        return 2

    from app.main_window import MainWindow
    from app.settings import AppSettings

    app = create_application()
    reporter = CrashReporter()
    reporter.install()
    stop_signal_timer = _let_python_see_signals(app)
    window = MainWindow(AppSettings(), studio=False)
    window.restore_layout()
    window.show()
    log.info("window shown %.2f s after start", time.monotonic() - _START)
    if probe_file := os.environ.get("TIMBRELAB_BENCH_LAUNCH", "").strip():
        from app.launch_probe import LaunchProbe  # only `timbrelab bench --family app` sets it

        LaunchProbe(window, Path(probe_file))
    studio_import = _attach_studio_when_imported(window)
    folder = Path(args.folder) if args.folder else window.settings.last_folder
    if folder is not None and folder.is_dir():
        window.open_folder(folder)
    elif args.folder:
        window.show_status(f"{args.folder}: no such folder")
    code = app.exec()
    stop_signal_timer()
    studio_import.wait()  # a QThread must not outlive its QObject
    return int(code)


PRELOAD_FALLBACK_MS = 1000
"""The studio's import starts this long after the window is shown if no frame was painted."""


def _attach_studio_when_imported(window: object) -> object:
    """Import the studio (torch and the model families) off the GUI thread, then attach it.

    Importing torch takes seconds on a cold start; done on the GUI thread it would keep the
    window from appearing. The import starts once the window has painted its first frame (or
    after :data:`PRELOAD_FALLBACK_MS` if it never paints, e.g. minimised): loading torch's
    libraries holds Python's lock, so started earlier it would hold back that first frame.
    Returns the task (a ``QThread``), running or about to run.
    """
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from app.workers import BackgroundTask

    def preload(progress: Callable[[int, int], None], should_stop: Callable[[], bool]) -> None:
        import app.studio  # noqa: F401 (imported for its side effect: the module cache)
        from synth_core.models import available_families

        available_families()

    def failed(error: object) -> None:
        log.error("loading the model families failed: %s", error)
        window.attach_studio()  # builds on the GUI thread, where the error is shown properly

    task = BackgroundTask(preload, window)
    task.succeeded.connect(lambda _result: window.attach_studio())
    task.failed.connect(failed)
    started = time.monotonic()
    task.finished.connect(
        lambda: log.info("models ready %.2f s after the window", time.monotonic() - started)
    )

    class _AfterFirstPaint(QObject):
        """Starts ``task`` on the loop turn after the first paint of a widget of ``window``."""

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
            if (
                event.type() == QEvent.Type.Paint
                and isinstance(watched, QWidget)
                and watched.window() is window
            ):
                QApplication.instance().removeEventFilter(self)
                QTimer.singleShot(0, start)
            return False

    def start() -> None:
        if not task.isRunning() and not task.isFinished():
            task.start()

    after_paint = _AfterFirstPaint(task)
    QApplication.instance().installEventFilter(after_paint)
    QTimer.singleShot(PRELOAD_FALLBACK_MS, task, start)
    return task
