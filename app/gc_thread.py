"""Python's cyclic garbage collection, run on the GUI thread only.

The collector runs in whichever thread happens to allocate past its threshold. When that is a
worker thread (a t-SNE layout importing scikit-learn, a render), the collection can free a Qt
object that belongs to the GUI thread, and its C++ destructor then runs on the worker. Seen in
the map panel test: the worker's collection freed a widget and, inside its destructor, held a
Qt mutex while waiting for the GIL, while the GUI thread held the GIL and waited for that
mutex, so both waited forever. :func:`collect_on_gui_thread` switches automatic collection off
and collects from a timer on the GUI thread instead, by the same thresholds
(``gc.get_threshold``): a generation is collected once its count passes its threshold.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 250


class GuiThreadCollector(QObject):
    """A timer that runs the garbage collector on the thread it lives in (the GUI thread)."""

    def __init__(self, parent: QObject, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.setObjectName("gui-thread-collector")
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect)
        self._timer.start(interval_ms)
        gc.disable()

    def collect(self) -> int:
        """Collect the oldest generation whose count has passed its threshold (as the
        automatic collector would); the number of unreachable objects found."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        due = [g for g in range(3) if thresholds[g] and counts[g] > thresholds[g]]
        return gc.collect(max(due)) if due else 0


def collect_on_gui_thread(app: QObject) -> GuiThreadCollector:
    """Install (once) the collector on ``app``, the ``QApplication``, from the GUI thread."""
    found = app.findChild(GuiThreadCollector, "gui-thread-collector")
    return found if found is not None else GuiThreadCollector(app)
