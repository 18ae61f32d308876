"""The core must run on a server with no display: importing it never loads Qt or the app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_importing_every_core_module_loads_neither_qt_nor_the_app():
    code = (
        "import importlib, pkgutil, sys, synth_core\n"
        "names = [m.name for m in pkgutil.walk_packages(synth_core.__path__, 'synth_core.')]\n"
        "names = [n for n in names if not n.endswith('.__main__')]  # runs the CLI\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'app'))\n"
        "assert not loaded, loaded\n"
        "print(len(names))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    # the walk reached every module, sub-packages included (each package once, as its __init__)
    files = [p for p in (REPO / "synth_core").rglob("*.py") if p.name != "__main__.py"]
    assert int(result.stdout) == len(files) - 1  # synth_core/__init__.py itself is not walked


def test_the_command_line_core_does_not_load_librosa():
    # librosa's first call compiles for ~13 s: only the modules that need its analysis load it
    code = (
        "import sys, synth_core, synth_core.audio, synth_core.dataset, synth_core.info, "
        "synth_core.paths, synth_core.cli\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'librosa')\n"
        "assert not loaded, loaded\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
