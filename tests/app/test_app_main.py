"""Starting the app: no display, a display, and errors nobody caught."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.main import CrashReporter, crash_log_path, has_display
from synth_core.errors import DatasetError

REPO = Path(__file__).resolve().parents[2]


def without_display() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(name, None)
    return env


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "app"],
        [str(Path(sys.executable).with_name("timbrelab"))],  # the installed script
    ],
    ids=["python -m app", "timbrelab"],
)
def test_without_a_display_the_app_says_so_in_one_line_and_exits_2(command):
    completed = subprocess.run(
        command, cwd=REPO, env=without_display(), capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert "no display" in lines[0] and "xvfb-run timbrelab" in lines[0]
    assert completed.stdout == ""


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", True),
        ({"DISPLAY": ""}, "linux", False),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", False),
        ({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":3"}, "linux", True),
        ({"QT_QPA_PLATFORM": "wayland", "DISPLAY": ":3"}, "linux", False),
        ({"QT_QPA_PLATFORM": "vnc:size=800x600"}, "linux", True),
        ({}, "darwin", True),
        ({}, "win32", True),
    ],
)
def test_display_detection(environ, platform, expected):
    assert has_display(environ, platform) is expected


def close_message_box_soon(seen: list[str]) -> None:
    def close() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            seen.append(box.text())
            seen.append(box.detailedText())
            box.accept()
        else:
            QTimer.singleShot(20, close)

    QTimer.singleShot(20, close)


def test_unexpected_error_is_shown_in_a_dialog_and_saved(qtbot):
    reporter = CrashReporter()
    seen: list[str] = []
    close_message_box_soon(seen)
    try:
        raise ZeroDivisionError("division by zero in a slider")
    except ZeroDivisionError as error:
        reporter.excepthook(type(error), error, error.__traceback__)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)

    assert "ZeroDivisionError" in seen[0] and str(crash_log_path()) in seen[0]
    assert "Traceback" in seen[1]
    assert "division by zero in a slider" in crash_log_path().read_text(encoding="utf-8")


def test_timbre_lab_error_is_shown_without_a_traceback(qtbot, tmp_path):
    reporter = CrashReporter()
    seen: list[str] = []
    close_message_box_soon(seen)
    error = DatasetError("no such folder", path=tmp_path / "gone")
    reporter.excepthook(DatasetError, error, None)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    assert seen == [str(error), ""]


def test_error_on_a_worker_thread_reaches_the_dialog(qtbot):
    import threading

    reporter = CrashReporter()
    reporter.install()
    seen: list[str] = []
    close_message_box_soon(seen)
    try:

        def fail() -> None:
            raise RuntimeError("worker broke")

        thread = threading.Thread(target=fail)
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    finally:
        sys.excepthook = sys.__excepthook__
        threading.excepthook = threading.__excepthook__
    assert "worker broke" in seen[0]
