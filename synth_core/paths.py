"""Where Timbre Lab keeps files on the user's machine.

Directories follow each platform's conventions (platformdirs: ``~/.cache/timbrelab`` on Linux,
``~/Library/Caches/timbrelab`` on macOS, ``%LOCALAPPDATA%`` on Windows). Each can be moved with an
environment variable, which tests set to temporary folders so they never touch a real home.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "timbrelab"

CACHE_ENV = "TIMBRELAB_CACHE_DIR"
CONFIG_ENV = "TIMBRELAB_CONFIG_DIR"
DATA_ENV = "TIMBRELAB_DATA_DIR"


def _resolve(env: str, default: str, *, create: bool) -> Path:
    override = os.environ.get(env, "").strip()
    path = Path(override).expanduser() if override else Path(default)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(*, create: bool = False) -> Path:
    """Folder for derived data that can be rebuilt (prepared clips, features).

    Parameters
    ----------
    create : bool, keyword-only
        Make the folder (and its parents) when it does not exist.

    Overridden by the ``TIMBRELAB_CACHE_DIR`` environment variable.
    """
    return _resolve(
        CACHE_ENV, platformdirs.user_cache_dir(APP_NAME, appauthor=False), create=create
    )


def config_dir(*, create: bool = False) -> Path:
    """Folder for settings and presets. Overridden by ``TIMBRELAB_CONFIG_DIR``."""
    return _resolve(
        CONFIG_ENV, platformdirs.user_config_dir(APP_NAME, appauthor=False), create=create
    )


def data_dir(*, create: bool = False) -> Path:
    """Folder for the user's runs and models. Overridden by ``TIMBRELAB_DATA_DIR``."""
    return _resolve(DATA_ENV, platformdirs.user_data_dir(APP_NAME, appauthor=False), create=create)
