"""Where Timbre Lab keeps files on the user's machine.

Directories follow each platform's conventions (platformdirs: ``~/.cache/timbrelab`` on Linux,
``~/Library/Caches/timbrelab`` on macOS, ``%LOCALAPPDATA%`` on Windows). Each can be moved with an
environment variable, which tests set to temporary folders so they never touch a real home.
:func:`new_file_mode` says which permissions a file written atomically should get, and
:func:`resources_dir` where the files shipped with the app (starter models, icons, style sheet) are.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import threading
from pathlib import Path

import platformdirs

APP_NAME = "timbrelab"

CACHE_ENV = "TIMBRELAB_CACHE_DIR"
CONFIG_ENV = "TIMBRELAB_CONFIG_DIR"
DATA_ENV = "TIMBRELAB_DATA_DIR"

#: The package ``resources/`` is installed as (see setup.py): a wheel puts the folder's files in
#: site-packages under this name, an editable install maps the name to the checkout's folder.
RESOURCES_PACKAGE = "timbrelab_resources"


def resources_dir() -> Path:
    """The folder of files shipped with Timbre Lab: ``models/`` (starter models), ``icons/`` and
    ``style.qss``.

    Found through :mod:`importlib.resources` as the package :data:`RESOURCES_PACKAGE`, so an
    installed wheel and an editable install both find it. A source checkout run without
    installing, and the PyInstaller app (whose spec copies the folder next to the code), have no
    such package; there it is ``resources/`` beside ``synth_core/``.
    """
    if importlib.util.find_spec(RESOURCES_PACKAGE) is not None:
        with importlib.resources.as_file(importlib.resources.files(RESOURCES_PACKAGE)) as folder:
            return Path(folder)
    return Path(__file__).resolve().parent.parent / "resources"


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


def new_file_mode() -> int:
    """The permission bits a newly created file gets under the process's umask (``0o666 & ~umask``).

    Atomic writers create a temporary file with :func:`tempfile.mkstemp`, which makes it private
    (0600) whatever the umask says; they ``chmod`` it to this mode before renaming it into place,
    so written sounds, sidecars and checkpoints are shared exactly like files the user's other
    tools write. On Linux the umask is read from ``/proc/self/status``, which is thread-safe;
    elsewhere it is read by setting it and restoring it, with a restrictive value set in between
    so that a file another thread creates at that moment can only be more private, never more
    open.
    """
    return 0o666 & ~_umask()


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask
