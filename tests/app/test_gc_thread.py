"""Garbage is collected on the GUI thread only (``app/gc_thread.py``): a worker's collection
could free a Qt object there and deadlock against the GUI thread (seen in the map panel test)."""

from __future__ import annotations

import gc
import threading

from PySide6.QtWidgets import QApplication

from app.gc_thread import GuiThreadCollector, collect_on_gui_thread


def test_a_cycle_left_while_a_worker_allocates_is_freed_on_the_gui_thread(qtbot):
    freed_on: list[str] = []

    class Node:
        def __del__(self) -> None:
            freed_on.append(threading.current_thread().name)

    node = Node()
    node.me = node  # a cycle: only the collector frees it
    del node

    kept: list[list] = []

    def allocate() -> None:  # many collections' worth of new containers, kept alive
        kept.extend([] for _ in range(20 * gc.get_threshold()[0]))

    worker = threading.Thread(target=allocate, name="worker")
    worker.start()
    worker.join()
    assert freed_on == [], "the worker's allocations ran a collection on the worker"
    qtbot.waitUntil(lambda: bool(freed_on), timeout=5000)
    assert freed_on == [threading.main_thread().name]


def test_the_collector_is_installed_once_and_keeps_automatic_collection_off(qtbot):
    app = QApplication.instance()
    first = collect_on_gui_thread(app)
    assert collect_on_gui_thread(app) is first
    assert len(app.findChildren(GuiThreadCollector)) == 1
    assert not gc.isenabled()
