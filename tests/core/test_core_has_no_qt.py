"""The core must run on a server with no display: importing it never loads Qt or the app."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_core_loads_neither_qt_nor_the_app_nor_librosa():
    code = (
        "import sys, synth_core, synth_core.audio, synth_core.dataset, synth_core.info, "
        "synth_core.paths, synth_core.cli\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'app', 'librosa'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
