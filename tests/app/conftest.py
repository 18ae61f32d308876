"""Fixtures for app tests: private user folders (settings included) and generated sounds."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.gc_thread import collect_on_gui_thread
from app.main_window import MainWindow
from app.settings import AppSettings
from tests.support.sounds import SoundFolder, write_sound_folder

WAIT_MS = 10_000


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Cache, config (and so QSettings) and data folders in a fresh temporary folder per test."""
    root = tmp_path_factory.mktemp("user")
    for name in ("CACHE", "CONFIG", "DATA"):
        monkeypatch.setenv(f"TIMBRELAB_{name}_DIR", str(root / name.lower()))
    return root


@pytest.fixture(autouse=True)
def collect_garbage_on_the_gui_thread(qapp) -> Iterator[None]:
    """As the app does (``app/gc_thread.py``): during an app test only the GUI thread collects
    garbage, so no worker frees a Qt object. The previous tests' garbage is collected here, on
    the GUI thread, and tests outside ``tests/app`` get automatic collection back."""
    gc.collect()
    collect_on_gui_thread(qapp)
    gc.disable()
    yield
    gc.collect()
    gc.enable()


@pytest.fixture
def sound_folder(tmp_path: Path) -> SoundFolder:
    """Three usable sounds and four files that must be skipped."""
    return write_sound_folder(tmp_path / "sounds")


@pytest.fixture
def app_settings() -> AppSettings:
    """The app's settings, stored under the test's private config folder."""
    return AppSettings()


@pytest.fixture
def main_window(qtbot, app_settings: AppSettings) -> Iterator[MainWindow]:
    """A shown main window with its layout restored; closed (and its threads stopped) after."""
    window = MainWindow(app_settings)
    qtbot.addWidget(window)
    window.restore_layout()
    window.show()
    yield window
    window.close()
