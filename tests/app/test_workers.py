"""Background work: the newest request wins, progress arrives thinned, errors come back."""

from __future__ import annotations

import threading

import pytest

from app.workers import BackgroundTask, LatestOnlyWorker
from tests.app.conftest import WAIT_MS


def test_only_the_newest_request_is_delivered(qtbot):
    worker = LatestOnlyWorker("test-latest")
    release = threading.Event()
    delivered: list[object] = []
    worker.finished.connect(delivered.append)

    def slow(value: int) -> int:
        release.wait(5)
        return value

    worker.submit(slow, 1)  # starts and blocks
    qtbot.waitUntil(lambda: worker.is_busy(), timeout=WAIT_MS)
    for value in (2, 3, 4):  # each replaces the one before while 1 runs
        worker.submit(slow, value)
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        release.set()
    qtbot.waitUntil(lambda: not worker.is_busy(), timeout=WAIT_MS)
    qtbot.wait(50)
    assert delivered == [4], "1 was superseded while running, 2 and 3 never ran"
    worker.shutdown()


def test_a_failing_request_reports_its_error(qtbot):
    worker = LatestOnlyWorker("test-failing")

    def broken() -> None:
        raise ValueError("bad slider value 7")

    with qtbot.waitSignal(worker.failed, timeout=WAIT_MS) as blocker:
        worker.submit(broken)
    assert isinstance(blocker.args[0], ValueError) and "7" in str(blocker.args[0])
    worker.shutdown()


def test_requests_after_shutdown_are_dropped(qtbot):
    worker = LatestOnlyWorker("test-closed")
    worker.shutdown()
    assert worker.submit(lambda: 1) == 0
    assert not worker.is_busy()


def test_background_task_reports_progress_result_and_cancel(qtbot):
    seen: list[tuple[int, int]] = []

    def job(progress, should_stop) -> str:
        for done in range(1, 1001):
            progress(done, 1000)
        return "stopped" if should_stop() else "complete"

    task = BackgroundTask(job)
    task.progressed.connect(lambda done, total: seen.append((done, total)))
    with qtbot.waitSignal(task.succeeded, timeout=WAIT_MS) as blocker:
        task.start()
    task.wait()
    assert blocker.args[0] == "complete"
    assert seen[-1] == (1000, 1000)
    assert len(seen) < 100, "progress is thinned, not one signal per item"

    cancelled = BackgroundTask(job)
    cancelled.cancel()
    with qtbot.waitSignal(cancelled.succeeded, timeout=WAIT_MS) as blocker:
        cancelled.start()
    cancelled.wait()
    assert blocker.args[0] == "stopped"


def test_background_task_hands_exceptions_to_the_gui(qtbot):
    def job(progress, should_stop) -> None:
        raise OSError("disk gone")

    task = BackgroundTask(job)
    with qtbot.waitSignal(task.failed, timeout=WAIT_MS) as blocker:
        task.start()
    task.wait()
    with pytest.raises(OSError, match="disk gone"):
        raise blocker.args[0]
