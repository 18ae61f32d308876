"""A LiveControl over an Explore panel playing a physical string, for the MIDI and OSC tests.

The player is pointed at an output device that does not exist, so it is ``unavailable`` on every
machine: notes still reach its voice mixer, where the tests look for them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from app.live import LiveControl
from app.panels.explore import ExplorePanel
from app.player import Player
from app.settings import AppSettings
from synth_core.runs import open_model

WAIT_MS = 10_000
LIVE_THREADS = ("timbrelab-notes", "timbrelab-osc", "timbrelab-player", "explore-generate")


@contextmanager
def live_string(qtbot, settings: AppSettings) -> Iterator[tuple[LiveControl, list[str]]]:
    """(a LiveControl on a plucked string, the model ids ``/timbrelab/model`` asked to open)."""
    panel = ExplorePanel(settings=settings)
    panel.autoplay.setChecked(False)
    qtbot.addWidget(panel)
    player = Player(device="no such output device")
    opened: list[str] = []
    live = LiveControl(panel, player, settings, open_model=opened.append)
    try:
        with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS):
            panel.set_model(open_model("physical:string"), "physical:string")
        yield live, opened
    finally:
        live.shutdown()
        panel.shutdown()
        player.close()
    alive = [t.name for t in threading.enumerate() if t.name.startswith(LIVE_THREADS)]
    assert not alive, f"threads left running: {alive}"
